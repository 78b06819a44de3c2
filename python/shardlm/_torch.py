"""PyTorch, when it is installed: shardlm lives inside PyTorch programs (torch.distributed groups, parameters as
torch tensors). torch is imported before the native engine module so that its CUDA libraries, NCCL among them,
are the ones the process loads: the engine then uses the same libnccl.so.2 as torch instead of loading a second
(older) one that would break torch's later import. Without torch, shardlm works with NumPy groups and
parameter descriptions."""

try:
    import torch
except ImportError:  # pragma: no cover - depends on the installation
    torch = None


def require(what):
    """torch, or an ImportError that names the feature needing it."""
    if torch is None:
        raise ImportError(f"shardlm: {what} needs PyTorch (pip install torch)")
    return torch


__all__ = ["torch", "require"]
