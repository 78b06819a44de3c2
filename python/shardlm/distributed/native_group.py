"""shardlm's own communicators for Python programs without PyTorch: the engine's Gloo (or NCCL) groups with
control messages as pickled objects and float32 collectives on NumPy arrays. With torch installed, the groups
of shardlm.distributed are torch.distributed ProcessGroups instead (torch_groups.py).

Objects travel with pickle, as torch.distributed's *_object calls do: only unpickle what your own ranks send.
"""

import pickle

from shardlm import _checks


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
        """"gloo", "shm" (CPU tensors between ranks on one host), "nccl", or "single" for one process."""
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


__all__ = ["ProcessGroup"]
