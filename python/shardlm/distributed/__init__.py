"""Process groups for user code, in vLLM's shape (vllm.distributed and vllm.distributed.parallel_state):
get_world_group(), get_tp_group(), get_dp_group() and the rank helpers. See parallel_state.py."""

from shardlm.distributed.parallel_state import (
    GroupCoordinator,
    ProcessGroup,
    get_data_parallel_rank,
    get_data_parallel_world_size,
    get_dp_group,
    get_tensor_model_parallel_rank,
    get_tensor_model_parallel_world_size,
    get_tp_group,
    get_world_group,
    model_parallel_is_initialized,
)

__all__ = [
    "GroupCoordinator",
    "ProcessGroup",
    "get_world_group",
    "get_tp_group",
    "get_dp_group",
    "get_tensor_model_parallel_rank",
    "get_tensor_model_parallel_world_size",
    "get_data_parallel_rank",
    "get_data_parallel_world_size",
    "model_parallel_is_initialized",
]
