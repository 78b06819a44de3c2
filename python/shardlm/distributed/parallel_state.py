"""vLLM's vllm.distributed.parallel_state: the process groups of the LLM built in this process.

    from shardlm.distributed.parallel_state import get_world_group, get_tp_group, get_dp_group
    cpu_group = get_world_group().cpu_group        # Gloo: control messages
    torch_rank = dist.get_rank(group=cpu_group)
    device_group = get_world_group().device_group  # NCCL on GPUs, Gloo on CPUs: tensors

With PyTorch installed, cpu_group and device_group are torch.distributed ProcessGroups over the engine's ranks
(torch_groups.py); without it they are shardlm's own communicators for pickled objects and float32 NumPy
arrays (native_group.py). The engine's own collectives stay native either way.

Ranks: the world is data_parallel_size replicas of tensor_parallel_size ranks, TP innermost: the TP group of
rank r is the replica r // tp_size, its DP group the ranks with the same r % tp_size.
Every call on a group is collective: all ranks of the group make the same calls in the same order.
"""

from shardlm import _checks
from shardlm._torch import torch
from shardlm.distributed.native_group import ProcessGroup

_world = None
_tp = None
_dp = None


class GroupCoordinator:
    """vLLM's GroupCoordinator: a group's ranks (global), this rank's place in it, and its two communicators.
    The methods send objects over cpu_group and tensors (NumPy arrays without torch) over device_group; src is
    a rank within the group, as in vLLM."""

    def __init__(self, ranks, rank, cpu_group, device_group, local_rank=0, device=None, unique_name=""):
        self.ranks = list(ranks)
        self.rank = rank
        self.rank_in_group = self.ranks.index(rank)
        self.world_size = len(self.ranks)
        self.local_rank = local_rank
        self.cpu_group = cpu_group
        self.device_group = device_group
        self.device = device
        self.unique_name = unique_name
        self._torch = not isinstance(cpu_group, ProcessGroup)

    @property
    def first_rank(self) -> int:
        return self.ranks[0]

    @property
    def last_rank(self) -> int:
        return self.ranks[-1]

    @property
    def is_first_rank(self) -> bool:
        return self.rank == self.first_rank

    @property
    def is_last_rank(self) -> bool:
        return self.rank == self.last_rank

    def _src(self, src, op):
        src = _checks.as_int(op, "src", src)
        if not 0 <= src < self.world_size:
            raise ValueError(f"{op}: src={src} is not a rank of this group of size {self.world_size}")
        return src

    def barrier(self):
        if self._torch:
            torch.distributed.barrier(group=self.cpu_group)
        else:
            self.cpu_group.barrier()

    def broadcast_object(self, obj=None, src=0):
        """src's obj on every rank of the group."""
        src = self._src(src, "broadcast_object")
        if not self._torch:
            return self.cpu_group.broadcast_object(obj, src)
        box = [obj if self.rank_in_group == src else None]
        torch.distributed.broadcast_object_list(box, src=self.ranks[src], group=self.cpu_group)
        return box[0]

    def broadcast_object_list(self, obj_list, src=0):
        src = self._src(src, "broadcast_object_list")
        if not self._torch:
            values = self.cpu_group.broadcast_object(list(obj_list), src)
            obj_list[:] = values
            return obj_list
        torch.distributed.broadcast_object_list(obj_list, src=self.ranks[src], group=self.cpu_group)
        return obj_list

    def all_gather_object(self, obj):
        """[obj of the group's first rank, ...] on every rank."""
        if not self._torch:
            return self.cpu_group.all_gather_object(obj)
        out = [None] * self.world_size
        torch.distributed.all_gather_object(out, obj, group=self.cpu_group)
        return out

    def all_reduce(self, input_):
        """The sum over the group. torch: a new tensor (vLLM's all_reduce is out of place); NumPy: float32,
        summed in place when the array is float32 and contiguous."""
        if not self._torch:
            return self.device_group.all_reduce(input_)
        out = input_.clone()
        torch.distributed.all_reduce(out, group=self.device_group)
        return out

    def all_gather(self, input_, dim=-1):
        """torch: the ranks' tensors concatenated along `dim` (vLLM's all_gather); NumPy: stacked as
        (world_size, *shape)."""
        if not self._torch:
            return self.device_group.all_gather(input_)
        dim = dim % input_.dim() if input_.dim() else 0
        parts = [torch.empty_like(input_) for _ in range(self.world_size)]
        torch.distributed.all_gather(parts, input_.contiguous(), group=self.device_group)
        return torch.cat(parts, dim=dim)

    def broadcast(self, input_, src=0):
        """src's tensor on every rank, in place."""
        src = self._src(src, "broadcast")
        if not self._torch:
            return self.device_group.broadcast(input_, src)
        torch.distributed.broadcast(input_, src=self.ranks[src], group=self.device_group)
        return input_

    def __repr__(self):
        return (
            f"GroupCoordinator(ranks={self.ranks}, rank={self.rank}, world_size={self.world_size}, "
            f"cpu_group={_backend(self.cpu_group)!r}, device_group={_backend(self.device_group)!r})"
        )


def _backend(group):
    if isinstance(group, ProcessGroup):
        return group.backend
    return torch.distributed.get_backend(group)


def _set_groups(world, tp, dp):
    """Called by LLM once its engine and groups exist."""
    global _world, _tp, _dp
    _world, _tp, _dp = world, tp, dp


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


def get_dp_group() -> GroupCoordinator:
    return _need(_dp, "get_dp_group")


def get_tensor_model_parallel_rank() -> int:
    return get_tp_group().rank_in_group


def get_tensor_model_parallel_world_size() -> int:
    return get_tp_group().world_size


def get_data_parallel_rank() -> int:
    return get_dp_group().rank_in_group


def get_data_parallel_world_size() -> int:
    return get_dp_group().world_size


def model_parallel_is_initialized() -> bool:
    return _tp is not None


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


def _install(engine, launch):
    """Builds the groups of a freshly created engine (every rank calls this at the same point) and makes them
    the ones get_world_group() & co. return."""
    rank, world_size = engine.rank, engine.world_size
    tp_size = engine.tp_group().world_size
    dp_size = world_size // tp_size
    world_ranks = list(range(world_size))
    tp_partition = [list(range(d * tp_size, (d + 1) * tp_size)) for d in range(dp_size)]
    dp_partition = [list(range(t, world_size, tp_size)) for t in range(tp_size)]
    local_rank = launch["local_rank"]
    if torch is None:
        groups = [(world_ranks, engine.world_group()), (tp_partition[rank // tp_size], engine.tp_group()),
                  (dp_partition[rank % tp_size], engine.dp_group())]
        coords = [GroupCoordinator(ranks, rank, ProcessGroup(g.cpu_group), ProcessGroup(g.device_group), local_rank,
                                   engine.device, name)
                  for (ranks, g), name in zip(groups, ("world", "tp", "dp"))]
    else:
        from shardlm.distributed import torch_groups

        device = torch.device("cuda", torch.cuda.current_device()) if engine.device == "cuda" else torch.device("cpu")
        device_backend = "nccl" if engine.device == "cuda" else "gloo"
        coords = []
        for partition, name in (([world_ranks], "world"), (tp_partition, "tp"), (dp_partition, "dp")):
            mine = next(p for p in partition if rank in p)
            coords.append(GroupCoordinator(mine, rank, torch_groups.group_of(partition, rank, "gloo"),
                                           torch_groups.group_of(partition, rank, device_backend), local_rank, device,
                                           name))
    _set_groups(*coords)
