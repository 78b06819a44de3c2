"""Loads the compiled engine (_shardlm) with an error that says how to build it.

torch, when installed, is imported first (shardlm._torch): the process then holds torch's CUDA libraries and
NCCL, and the engine binds to those same ones. Debian's libsentencepiece, which the engine links, carries a
private protobuf under the same symbol names as the protobuf torch exports; resolved to torch's, its start-up
crashes. So it is opened first on its own with RTLD_DEEPBIND (its own symbols before anyone else's); the
engine module then finds it loaded. (Not under AddressSanitizer, which refuses RTLD_DEEPBIND.)"""

import ctypes
import os

from shardlm import _torch  # noqa: F401  (first: torch's CUDA libraries and NCCL before the engine's)


def _under_address_sanitizer():
    try:
        with open("/proc/self/maps") as f:
            return "libasan" in f.read()
    except OSError:
        return False


def _import_engine():
    if _torch.torch is not None and hasattr(os, "RTLD_DEEPBIND") and not _under_address_sanitizer():
        try:
            ctypes.CDLL("libsentencepiece.so.0", mode=os.RTLD_NOW | os.RTLD_LOCAL | os.RTLD_DEEPBIND)
        except OSError:  # a build without SentencePiece, or it lives where only the engine's run path finds it
            pass
    from shardlm import _shardlm

    return _shardlm


try:
    native = _import_engine()
except ImportError as e:  # pragma: no cover - depends on the installation
    raise ImportError(
        f"shardlm: cannot load the compiled engine module _shardlm next to {__file__}: {e}. "
        "Build it with `cmake --build build --target _shardlm` and use PYTHONPATH=build/python, "
        "or install the package with `pip install .`"
    ) from e

EngineError = native.EngineError

__all__ = ["native", "EngineError"]
