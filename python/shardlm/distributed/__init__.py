"""Process groups for user code, in vLLM's shape (vllm.distributed and vllm.distributed.parallel_state):
get_world_group(), get_tp_group(), get_dp_group() and the rank helpers. See parallel_state.py."""

from shardlm.distributed import parallel_state
from shardlm.distributed.parallel_state import *  # noqa: F401,F403

__all__ = list(parallel_state.__all__)
