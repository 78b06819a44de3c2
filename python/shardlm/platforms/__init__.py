"""vLLM's ``vllm.platforms.current_platform``: which device this process runs on, for code (and vLLM's own
tests) that asks before choosing dtypes, devices or skips.

shardlm runs on NVIDIA GPUs and on CPUs. The platform is CUDA when PyTorch sees a CUDA device (as vLLM
decides), else CPU; PyTorch is imported only when a question needs it, and its absence means CPU.
"""

from __future__ import annotations

import os
import random
from typing import NamedTuple, Optional, Tuple, Union


class DeviceCapability(NamedTuple):
    major: int
    minor: int

    def as_version_str(self) -> str:
        return f"{self.major}.{self.minor}"

    def to_int(self) -> int:
        return self.major * 10 + self.minor


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


class Platform:
    """The answers of vLLM's Platform that mean something for shardlm (CUDA or CPU)."""

    def __init__(self) -> None:
        self._cuda: Optional[bool] = None

    def _is_cuda(self) -> bool:
        if self._cuda is None:
            torch = _torch()
            self._cuda = bool(torch is not None and torch.cuda.is_available())
        return self._cuda

    @property
    def device_type(self) -> str:
        return "cuda" if self._is_cuda() else "cpu"

    @property
    def device_name(self) -> str:
        return self.device_type

    @property
    def dispatch_key(self) -> str:
        return "CUDA" if self._is_cuda() else "CPU"

    def is_cuda(self) -> bool:
        return self._is_cuda()

    def is_cuda_alike(self) -> bool:
        return self._is_cuda()

    def is_cpu(self) -> bool:
        return not self._is_cuda()

    # Platforms shardlm does not run on.
    def is_rocm(self) -> bool:
        return False

    def is_tpu(self) -> bool:
        return False

    def is_xpu(self) -> bool:
        return False

    def is_out_of_tree(self) -> bool:
        return False

    def get_device_capability(self, device_id: int = 0) -> Optional[DeviceCapability]:
        if not self._is_cuda():
            return None
        major, minor = _torch().cuda.get_device_capability(device_id)
        return DeviceCapability(major, minor)

    def has_device_capability(self, capability: Union[Tuple[int, int], int], device_id: int = 0) -> bool:
        """True when the device's compute capability is at least `capability` ((8, 0) or 80)."""
        current = self.get_device_capability(device_id)
        if current is None:
            return False
        if isinstance(capability, tuple):
            return current >= capability
        return current.to_int() >= capability

    def is_device_capability(self, capability: Union[Tuple[int, int], int], device_id: int = 0) -> bool:
        current = self.get_device_capability(device_id)
        if current is None:
            return False
        if isinstance(capability, tuple):
            return current == capability
        return current.to_int() == capability

    def get_device_name(self, device_id: int = 0) -> str:
        if not self._is_cuda():
            return "cpu"
        return _torch().cuda.get_device_name(device_id)

    def get_device_total_memory(self, device_id: int = 0) -> int:
        if not self._is_cuda():
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return _torch().cuda.get_device_properties(device_id).total_memory

    def supports_fp8(self) -> bool:
        """FP8 weights run on GPUs of compute capability 8.9 or newer (shardlm's CPU path emulates them)."""
        return self.has_device_capability(89)

    def is_fp8_fnuz(self) -> bool:
        return False

    def fp8_dtype(self):
        return _torch().float8_e4m3fn

    def seed_everything(self, seed: Optional[int] = None) -> None:
        """Seeds Python's, NumPy's and PyTorch's generators (the engine's own sampling has its seeds)."""
        if seed is None:
            return
        random.seed(seed)
        try:
            import numpy as np

            np.random.seed(seed)
        except ImportError:
            pass
        torch = _torch()
        if torch is not None:
            torch.manual_seed(seed)

    def __repr__(self) -> str:
        return f"shardlm.platforms.Platform({self.device_type})"


current_platform = Platform()

__all__ = ["DeviceCapability", "Platform", "current_platform"]
