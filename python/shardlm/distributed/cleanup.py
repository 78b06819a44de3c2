"""cleanup_dist_env_and_memory: vLLM's call after a test or program drops its LLM. shardlm's process groups
belong to their engine and go with it; what is left to do is collecting the dropped engines (an LLM and the
torch views of its weights refer to each other, so only the cycle collector frees them) and handing cached
CUDA memory back to the driver when torch is in use."""

import gc

from shardlm import _torch


def cleanup_dist_env_and_memory(shutdown_ray=False):
    gc.collect()
    torch = _torch.torch
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
