"""Process groups for user code, in vLLM's shape (vllm.distributed.parallel_state).

get_world_group() / get_tp_group() return the groups of the LLM created in this process (the latest one, if
several). Each is a GroupCoordinator with .rank, .world_size, .cpu_group (Gloo: control messages, pickled
Python objects) and .device_group (Gloo on CPU, NCCL on GPU: float32 NumPy arrays).

Every call on a group is collective: all ranks of the group must make the same calls in the same order.
Objects travel with pickle, as torch.distributed's *_object calls do: only unpickle what your own ranks send.
"""

import pickle

from shardlm import _checks

_world = None
_tp = None


class ProcessGroup:
    """One communicator (a cpu_group or a device_group)."""

    def __init__(self, native_group):
        self._g = native_group

    def rank(self) -> int:
        return self._g.rank()

    def size(self) -> int:
        return self._g.size()

    @property
    def backend(self) -> str:
        """"gloo", "nccl", or "local" for a single process."""
        return self._g.backend()

    def barrier(self):
        self._g.barrier()

    def broadcast_object(self, obj=None, src=0):
        """src's obj on every rank (the others' obj is ignored)."""
        src = self._check_src(src, "broadcast_object")
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL) if self.rank() == src else b""
        data = self._g.broadcast_bytes(data, src)
        return obj if self.rank() == src else pickle.loads(data)

    def all_gather_object(self, obj):
        """[obj of rank 0, obj of rank 1, ...] on every rank."""
        parts = self._g.all_gather_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
        return [pickle.loads(p) for p in parts]

    def all_reduce(self, array):
        """Element-wise float32 sum over the ranks; returns it. A float32 C-contiguous writeable array is
        also summed in place (as torch.distributed.all_reduce does); other inputs give a new array."""
        return self._g.all_reduce(array)

    def all_gather(self, array):
        """A new float32 array of shape (size(), *array.shape): every rank's array in rank order. The arrays
        must have the same shape on every rank."""
        return self._g.all_gather(array)

    def broadcast(self, array, src=0):
        """src's float32 values on every rank (same shape everywhere); in place as all_reduce."""
        return self._g.broadcast(array, self._check_src(src, "broadcast"))

    def _check_src(self, src, op):
        src = _checks.as_int(op, "src", src)
        if not 0 <= src < self.size():
            raise ValueError(f"{op}: src={src} is not a rank of this group of size {self.size()}")
        return src

    def __repr__(self):
        return f"ProcessGroup(backend={self.backend!r}, rank={self.rank()}, size={self.size()})"


class GroupCoordinator:
    """vLLM's GroupCoordinator: a group's ranks and its two communicators. The convenience methods send
    objects over cpu_group and arrays over device_group."""

    def __init__(self, native_group):
        self.rank_in_group = native_group.rank
        self.world_size = native_group.world_size
        # The tensor-parallel group spans the whole world (shardlm requires world size == TP size), so a
        # rank in a group is also the global rank.
        self.rank = native_group.rank
        self.ranks = list(range(native_group.world_size))
        self.cpu_group = ProcessGroup(native_group.cpu_group)
        self.device_group = ProcessGroup(native_group.device_group)

    @property
    def is_first_rank(self) -> bool:
        return self.rank_in_group == 0

    @property
    def is_last_rank(self) -> bool:
        return self.rank_in_group == self.world_size - 1

    def barrier(self):
        self.cpu_group.barrier()

    def broadcast_object(self, obj=None, src=0):
        return self.cpu_group.broadcast_object(obj, src)

    def all_gather_object(self, obj):
        return self.cpu_group.all_gather_object(obj)

    def all_reduce(self, array):
        return self.device_group.all_reduce(array)

    def all_gather(self, array):
        return self.device_group.all_gather(array)

    def broadcast(self, array, src=0):
        return self.device_group.broadcast(array, src)

    def __repr__(self):
        return (
            f"GroupCoordinator(rank={self.rank}, world_size={self.world_size}, "
            f"cpu_group={self.cpu_group.backend!r}, device_group={self.device_group.backend!r})"
        )


def _set_groups(world, tp):
    """Called by LLM once its engine has joined the launcher's process groups."""
    global _world, _tp
    _world, _tp = world, tp


def _need(group, name):
    if group is None:
        raise RuntimeError(
            f"shardlm.distributed.{name}(): no process group yet. The groups belong to the engine: create "
            "shardlm.LLM(...) in this process first (under torchrun/shardlm-run with "
            "tensor_parallel_size=<world size>), then call this."
        )
    return group


def get_world_group() -> GroupCoordinator:
    return _need(_world, "get_world_group")


def get_tp_group() -> GroupCoordinator:
    return _need(_tp, "get_tp_group")


def get_tensor_model_parallel_rank() -> int:
    return get_tp_group().rank_in_group


def get_tensor_model_parallel_world_size() -> int:
    return get_tp_group().world_size


__all__ = [
    "GroupCoordinator",
    "ProcessGroup",
    "get_world_group",
    "get_tp_group",
    "get_tensor_model_parallel_rank",
    "get_tensor_model_parallel_world_size",
]
