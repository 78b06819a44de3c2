"""Process groups for user code, in vLLM's shape (vllm.distributed and vllm.distributed.parallel_state):
get_world_group(), get_tp_group(), get_dp_group() and the rank helpers (parallel_state.py), and
cleanup_dist_env_and_memory() (cleanup.py)."""

from shardlm.distributed import parallel_state
from shardlm.distributed.parallel_state import *  # noqa: F401,F403

from shardlm.distributed.cleanup import cleanup_dist_env_and_memory

__all__ = list(parallel_state.__all__) + ["cleanup_dist_env_and_memory"]
