"""Model: this rank's shard of the model (vLLM's tip 3,
`llm.llm_engine.model_executor.driver_worker.worker.model_runner.model`).

With PyTorch installed, named_parameters() / parameters() / state_dict() give torch tensors that share the
engine's memory (DLPack): writing into them changes what the engine computes. load_weights() takes full,
unsharded tensors under Hugging Face names, as vLLM's model.load_weights does, and each rank copies its own
shard into place through the routes the layers recorded at load time (fused QKV and gate/up, vocabulary
padding, replicated KV heads included). Without torch, named_parameters() yields ParameterInfo records.
"""

import collections
from typing import Iterator, NamedTuple, Tuple

from shardlm import _torch


class ParameterInfo(NamedTuple):
    """One parameter of this rank's shard (without torch). shape and numel are local: a column-parallel weight
    of the full shape [out, in] has shape (out / tp_size, in) here."""

    shape: Tuple[int, ...]
    dtype: str
    numel: int


class _Route(NamedTuple):
    source: str
    full_shape: Tuple[int, ...]
    param_index: int
    slice: str  # "whole" | "rows" | "cols"
    start: int
    len: int
    dst_row: int


# Checkpoint tensors that are not parameters of any engine: rotary tables some checkpoints carry.
_IGNORED_SUFFIXES = (".rotary_emb.inv_freq",)


class Model:
    def __init__(self, engine):
        self._engine = engine
        self._infos = list(engine.parameters())
        self._tensors = None
        self._routes = None

    @property
    def architecture(self) -> str:
        return self._engine.architecture

    @property
    def vocab_size(self) -> int:
        return self._engine.vocab_size

    def _views(self):
        if self._tensors is None:
            torch = _torch.require("Model.named_parameters() as tensors")
            self._tensors = [torch.from_dlpack(self._engine.parameter_dlpack(i)) for i in range(len(self._infos))]
        return self._tensors

    def named_parameters(self) -> Iterator[Tuple[str, object]]:
        """(name, tensor) for every parameter of this shard; fused layers (QKV, gate/up) appear once under their
        fused name, as in vLLM. Without torch: (name, ParameterInfo)."""
        if _torch.torch is None:
            for p in self._infos:
                yield p.name, ParameterInfo(tuple(p.local_shape), p.dtype, p.local_numel)
            return
        yield from zip((p.name for p in self._infos), self._views())

    def parameters(self) -> Iterator[object]:
        for _, p in self.named_parameters():
            yield p

    def state_dict(self):
        """An OrderedDict of name -> tensor sharing the engine's memory (torch only)."""
        _torch.require("Model.state_dict()")
        return collections.OrderedDict(self.named_parameters())

    def num_parameters(self) -> int:
        """Elements held by this rank (its shard, not the whole model)."""
        return self._engine.num_parameters()

    def _route_table(self):
        if self._routes is None:
            table = collections.defaultdict(list)
            for r in self._engine.weight_routes():
                route = _Route(*r)
                table[route.source].append(route)
            self._routes = dict(table)
        return self._routes

    def _canonical(self, name):
        """The name the layers loaded `name` under (checkpoint prefix spellings, e.g. OPT's `decoder.*`)."""
        routes = self._route_table()
        if name in routes:
            return name
        for canonical, alias in self._engine.weight_prefix_aliases():
            if name.startswith(alias) and canonical + name[len(alias):] in routes:
                return canonical + name[len(alias):]
        return None

    def load_weights(self, weights):
        """Writes full (unsharded) tensors given as (Hugging Face name, tensor) pairs into this rank's shard, in
        place, and returns the set of names loaded. Tensors may be on any device and of any floating dtype. A
        name the model does not have, or a shape that differs from the checkpoint's, raises ValueError naming
        every such tensor before anything is written. The prefix cache is reset (its KV was computed with the
        old weights). A tied model's `lm_head.weight` is accepted and skipped, as vLLM does."""
        torch = _torch.require("Model.load_weights()")
        routes = self._route_table()
        plan, loaded, unknown, wrong = [], set(), [], []
        for item in weights:
            try:
                name, tensor = item
            except (TypeError, ValueError):
                raise TypeError(f"load_weights: expected (name, tensor) pairs, got {type(item).__name__}") from None
            if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
                raise TypeError(
                    f"load_weights: expected (str, torch.Tensor) pairs, got ({type(name).__name__}, {type(tensor).__name__})")
            canonical = self._canonical(name)
            if canonical is None:
                if name.endswith(_IGNORED_SUFFIXES) or (name == "lm_head.weight" and self._ties_lm_head()):
                    loaded.add(name)
                else:
                    unknown.append(name)
                continue
            for r in routes[canonical]:
                if tuple(tensor.shape) != r.full_shape:
                    wrong.append(f"{name}: shape {list(tensor.shape)}, the model's is {list(r.full_shape)}")
                    break
                plan.append((r, tensor))
            loaded.add(name)
        if unknown or wrong:
            parts = []
            if unknown:
                parts.append(f"{len(unknown)} name(s) this {self.architecture} does not have: {unknown[:8]}")
            if wrong:
                parts.append(f"{len(wrong)} tensor(s) of the wrong shape: {wrong[:8]}")
            raise ValueError("load_weights: nothing was loaded; " + "; ".join(parts))
        views = self._views()
        with torch.no_grad():
            for r, src in plan:
                dst = views[r.param_index]
                if r.slice == "rows":
                    dst[r.dst_row:r.dst_row + r.len].copy_(src[r.start:r.start + r.len])
                elif r.slice == "cols":
                    dst.copy_(src[:, r.start:r.start + r.len])
                else:
                    dst.copy_(src)
        if self._engine.device == "cuda":
            torch.cuda.synchronize()  # the engine's stream reads these weights next
        self._engine.reset_prefix_cache()
        return loaded

    def _ties_lm_head(self):
        return "lm_head.weight" not in self._route_table()

    def __repr__(self):
        return (
            f"Model(architecture={self.architecture!r}, tp_rank={self._engine.tp_group().rank}, "
            f"tp_size={self._engine.tp_group().world_size}, local_parameters={self.num_parameters()})"
        )
