"""Loads the compiled engine (_shardlm) with an error that says how to build it.

torch, when installed, is imported first (shardlm._torch): the process then holds torch's CUDA libraries and
NCCL, and the engine binds to those same ones. The engine module itself is opened with RTLD_DEEPBIND, so the
libraries it brings bind their own symbols first: Debian's libsentencepiece carries a private protobuf whose
symbol names equal those torch exports, and resolving them to torch's crashes its start-up. (Not under
AddressSanitizer, which refuses RTLD_DEEPBIND; its runs use a torch that does not export protobuf.)"""

import os
import sys

from shardlm import _torch  # noqa: F401  (first: torch's CUDA libraries and NCCL before the engine's)


def _under_address_sanitizer():
    try:
        with open("/proc/self/maps") as f:
            return "libasan" in f.read()
    except OSError:
        return False


def _import_engine():
    flags = sys.getdlopenflags()
    if hasattr(os, "RTLD_DEEPBIND") and not _under_address_sanitizer():
        sys.setdlopenflags(flags | os.RTLD_DEEPBIND)
    try:
        from shardlm import _shardlm
    finally:
        sys.setdlopenflags(flags)
    return _shardlm


try:
    native = _import_engine()
except ImportError as e:  # pragma: no cover - depends on the installation
    raise ImportError(
        f"shardlm: cannot load the compiled engine module _shardlm next to {__file__}: {e}. "
        "Build it with `cmake --build build --target _shardlm` and use PYTHONPATH=build/python, "
        "or install the package with `pip install --no-build-isolation .`"
    ) from e

EngineError = native.EngineError

__all__ = ["native", "EngineError"]
