"""torch.distributed groups over the engine's ranks (vLLM's cpu_group / device_group as real torch
ProcessGroups).

The default process group is the user's when they called dist.init_process_group() before LLM(...) (vLLM's
own torchrun test does), else shardlm initialises it from the launcher's environment, as vLLM does: under
torchrun and shardlm-run every process (torch and the engine alike) joins the launcher's TCPStore; under
mpirun/srun rank 0 hosts a torch TCPStore at MASTER_ADDR:MASTER_PORT that the engine then joins too; a single
process without a launcher uses an in-process store. Groups are created once per set of ranks and backend and
reused by later LLMs in the process (an RL loop may build several).
"""

import atexit
import os
import time

from shardlm._torch import torch

_groups = {}  # (partition, backend) -> this rank's ProcessGroup


@atexit.register
def _destroy_groups():
    """Lets torch's Gloo worker threads finish before the interpreter finalises. A worker releases a finished
    collective's tensors (broadcast_object_list's, say) after the collective returns, and that needs the GIL;
    a thread that asks for the GIL once finalisation has begun is ended with pthread_exit, whose unwinding
    through torch's noexcept frames aborts the process ("terminate called without an active exception").
    So at exit the groups shardlm made and the default group (also when the program created it: nothing can
    use it once the interpreter is exiting) are destroyed, and the GIL is released briefly for the workers'
    last releases. Python references to a group (a script's `cpu_group`) keep its object alive, which is why
    destroying alone is not enough."""
    if torch is None or not torch.distributed.is_initialized():
        return
    for group in {id(g): g for g in _groups.values() if g is not None}.values():
        try:
            torch.distributed.destroy_process_group(group)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
    _groups.clear()
    try:
        torch.distributed.destroy_process_group()
    except Exception:  # noqa: BLE001 - best effort at exit
        pass
    time.sleep(0.05)


def prepare_store(launch):
    """Before the engine starts: under a launcher without its own store (mpirun, srun), rank 0 hosts torch's
    TCPStore at the master address and the engine is told to join it rather than host one itself. Returns the
    store to initialise the default group with later, or None (the default group exists already, or the
    launcher's store is used through init_method env://, or a single process)."""
    dist = torch.distributed
    if dist.is_initialized() or launch["world_size"] == 1 or launch["agent_store"]:
        return None
    store = dist.TCPStore(launch["master_addr"], launch["master_port"], launch["world_size"],
                          is_master=launch["rank"] == 0, wait_for_workers=False)
    os.environ["TORCHELASTIC_USE_AGENT_STORE"] = "True"  # the engine joins this store instead of hosting one
    return store


def _store_with_secret(launch):
    """shardlm-run's store requires SHARDLM_STORE_SECRET: torch's client joins it by presenting the secret first
    (a SET of this key; the store checks it and never stores it), then keys under env://'s prefix."""
    dist = torch.distributed
    store = dist.TCPStore(launch["master_addr"], launch["master_port"], launch["world_size"], is_master=False,
                          wait_for_workers=False)
    store.set("shardlm_store_secret", os.environ["SHARDLM_STORE_SECRET"])
    return dist.PrefixStore("default_pg", store)


def init_default_group(launch, device, store):
    """Initialises torch.distributed's default group unless the user did; checks that it spans the launcher's
    ranks in the same order as the engine's."""
    dist = torch.distributed
    if device == "cuda":
        torch.cuda.set_device(launch["local_rank"] % max(1, torch.cuda.device_count()))
    if not dist.is_initialized():
        backend = "cpu:gloo,cuda:nccl" if device == "cuda" else "gloo"
        rank, world = launch["rank"], launch["world_size"]
        if store is None and world == 1:
            store = dist.HashStore()
        if store is None and launch["launcher"] == "shardlm-run" and os.environ.get("SHARDLM_STORE_SECRET"):
            store = _store_with_secret(launch)
        if store is None:  # under torchrun / shardlm-run: the launcher's store, as env:// finds it
            os.environ.setdefault("RANK", str(rank))
            os.environ.setdefault("WORLD_SIZE", str(world))
            os.environ.setdefault("MASTER_ADDR", launch["master_addr"])
            os.environ.setdefault("MASTER_PORT", str(launch["master_port"]))
            dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world)
        else:
            dist.init_process_group(backend=backend, store=store, rank=rank, world_size=world)
    if dist.get_world_size() != launch["world_size"] or dist.get_rank() != launch["rank"]:
        raise RuntimeError(
            f"shardlm: torch.distributed's default group is rank {dist.get_rank()} of {dist.get_world_size()}, but the "
            f"launcher started this process as rank {launch['rank']} of {launch['world_size']}; initialise "
            "torch.distributed over the launcher's ranks (dist.init_process_group() with its environment)")


def group_of(partition, rank, backend):
    """This rank's group in `partition` (a list of disjoint rank lists covering the world). Every rank creates
    every group of the partition, in the same order, as torch.distributed.new_group requires."""
    key = (tuple(tuple(p) for p in partition), backend)
    if key not in _groups:
        mine = None
        for ranks in partition:
            g = torch.distributed.new_group(list(ranks), backend=backend)
            if rank in ranks:
                mine = g
        _groups[key] = mine
    return _groups[key]


__all__ = ["prepare_store", "init_default_group", "group_of"]
