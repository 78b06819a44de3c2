"""Loads the compiled engine (_shardlm) with an error that says how to build it."""

from shardlm import _torch  # noqa: F401  (first: torch's CUDA libraries and NCCL before the engine's)

try:
    from shardlm import _shardlm as native
except ImportError as e:  # pragma: no cover - depends on the installation
    raise ImportError(
        f"shardlm: cannot load the compiled engine module _shardlm next to {__file__}: {e}. "
        "Build it with `cmake --build build --target _shardlm` and use PYTHONPATH=build/python, "
        "or install the package with `pip install --no-build-isolation .`"
    ) from e

EngineError = native.EngineError

__all__ = ["native", "EngineError"]
