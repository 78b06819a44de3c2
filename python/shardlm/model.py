"""Model: this rank's shard of the model, for inspection (vLLM's tip 3,
`llm.llm_engine.model_executor.driver_worker.worker.model_runner.model`). shardlm's weights live in the C++
engine; this view lists them (name, local shape, dtype, element count) without copying."""

from typing import Iterator, NamedTuple, Tuple


class ParameterInfo(NamedTuple):
    """One parameter of this rank's shard. shape and numel are local: a column-parallel weight of the full
    shape [out, in] has shape (out / tp_size, in) here."""

    shape: Tuple[int, ...]
    dtype: str
    numel: int


class Model:
    def __init__(self, engine):
        self._engine = engine

    @property
    def architecture(self) -> str:
        return self._engine.architecture

    @property
    def vocab_size(self) -> int:
        return self._engine.vocab_size

    def named_parameters(self) -> Iterator[Tuple[str, ParameterInfo]]:
        """(checkpoint name, ParameterInfo) for every parameter of this shard; fused layers (QKV, gate/up)
        appear once under their fused name."""
        for p in self._engine.parameters():
            yield p.name, ParameterInfo(tuple(p.local_shape), p.dtype, p.local_numel)

    def parameters(self) -> Iterator[ParameterInfo]:
        for _, info in self.named_parameters():
            yield info

    def num_parameters(self) -> int:
        """Elements held by this rank (its shard, not the whole model)."""
        return self._engine.num_parameters()

    def __repr__(self):
        return (
            f"Model(architecture={self.architecture!r}, tp_rank={self._engine.rank}, "
            f"tp_size={self._engine.world_size}, local_parameters={self.num_parameters()})"
        )
