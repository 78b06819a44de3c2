"""SamplingParams: vLLM's per-request decoding options (same names, defaults, normalisation and validation
messages), converted to the engine's native struct for each request.

The fields, their order and their types come from the engine (native.SamplingParams.FIELDS, C++'s
SamplingParams::for_each_field); normalisation and validation are the engine's too (SamplingParams::normalize
and validate), so Python, the C++ API and the server treat a request alike. Python keeps the values as given
(0.7 stays 0.7) and checks their types here, naming the field."""

import enum
import warnings

from shardlm import _checks
from shardlm._native import native
from shardlm.exceptions import VLLMValidationError

_OWNER = "SamplingParams"


class RequestOutputKind(enum.Enum):
    """vLLM's: what a streaming consumer receives while a request runs."""

    CUMULATIVE = 0  # the whole output so far, each time
    DELTA = 1  # only what is new
    FINAL_ONLY = 2  # nothing until the request finishes


def _stop(name, value):
    if value is None:
        return []
    if isinstance(value, str):
        return [_checks.as_str(_OWNER, name, value)]
    if isinstance(value, (list, tuple)):
        return [_checks.as_str(_OWNER, f"{name}[{i}]", s) for i, s in enumerate(value)]
    raise TypeError(f"{_OWNER}: {name} must be a str, a list of str or None, got {type(value).__name__} {value!r}")


def _logit_bias(name, value):
    """{token id: bias}; keys may be ints or strings of ints (as OpenAI requests send them)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"{_OWNER}: {name} must be a dict of token id -> bias, got {type(value).__name__} {value!r}")
    out, invalid = {}, []
    for key, bias in value.items():
        try:
            token = int(key)
            if isinstance(key, (bool, float)):
                raise ValueError
        except (TypeError, ValueError):
            invalid.append(key)
            continue
        out[_checks.as_int(_OWNER, f"{name} key", token)] = _checks.as_float(_OWNER, f"{name}[{key!r}]", bias)
    if invalid:
        raise VLLMValidationError(f"logit_bias contains key(s) that cannot be converted to integer token IDs: {invalid!r}",
                                  parameter="logit_bias", value=invalid)
    return out


def _output_kind(name, value):
    if isinstance(value, RequestOutputKind):
        return value
    # vLLM's own enum (or any enum with these names) is accepted by name.
    member = getattr(value, "name", None)
    if member in RequestOutputKind.__members__:
        return RequestOutputKind[member]
    raise TypeError(f"{_OWNER}: {name} must be a RequestOutputKind, got {type(value).__name__} {value!r}")


def _count(name, value):  # logprobs / prompt_logprobs: vLLM reads True as 1
    return 1 if value is True else _checks.as_int(_OWNER, name, value, allow_none=True)


# Converter per native field kind (python/src/types.cpp, FieldKind), then the fields that need more.
_BY_KIND = {
    "int": lambda name, v: _checks.as_int(_OWNER, name, v),
    "float": lambda name, v: _checks.as_float(_OWNER, name, v),
    "bool": lambda name, v: _checks.as_bool(_OWNER, name, v),
    "optional_int": lambda name, v: _checks.as_int(_OWNER, name, v, allow_none=True),
    "optional_int64": lambda name, v: _checks.as_int(_OWNER, name, v, allow_none=True, bounds=_checks.INT64),
    "str_list": _stop,
    "int_list": lambda name, v: _checks.as_int_list(_OWNER, name, v),
    "optional_int_list": lambda name, v: None if v is None else _checks.as_int_list(_OWNER, name, v),
    "logit_bias": _logit_bias,
    "output_kind": _output_kind,
}
_SPECIAL = {"logprobs": _count, "prompt_logprobs": _count}

# Field -> converter, in the engine's (vLLM's) order, which is also __init__'s and __repr__'s.
_FIELDS = {name: _SPECIAL.get(name, _BY_KIND[kind]) for name, kind in native.SamplingParams.FIELDS}


def _to_native_value(name, value):
    if isinstance(value, RequestOutputKind):
        return value.value
    return value


def _from_native_value(name, value):
    if name == "output_kind":
        return RequestOutputKind(value)
    return value


class SamplingParams:
    """Sampling parameters for text generation, as vllm.SamplingParams.

    Invalid values raise shardlm.exceptions.VLLMValidationError (a ValueError) naming the field (when
    constructed, and again at generate() for values assigned later); values of the wrong type raise TypeError
    naming the field. Construction normalises as vLLM does: seed -1 becomes None, a temperature in (0, 0.01)
    is raised to 0.01 (with a warning), greedy decoding (temperature below 1e-5) resets top_p, top_k and
    min_p, duplicate stop_token_ids and bad_words are dropped. top_k 0 or -1 disables top-k; seed None draws
    from the engine's seed; max_tokens None generates up to max_model_len; logprobs N returns the top N
    log-probabilities per token besides the sampled one and prompt_logprobs N the same for every prompt token
    (-1: the whole vocabulary, within LLM(max_logprobs=...)).
    """

    # logits_processors: vLLM's per-request callables, accepted for vLLM's signature and refused by generate()
    # (vLLM V1 refuses them too); they never reach the engine, so they are not one of its fields.
    __slots__ = tuple(_FIELDS) + ("logits_processors",)

    def __init__(
        self,
        n=1,
        presence_penalty=0.0,
        frequency_penalty=0.0,
        repetition_penalty=1.0,
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        min_p=0.0,
        seed=None,
        stop=None,
        stop_token_ids=None,
        ignore_eos=False,
        max_tokens=16,
        min_tokens=0,
        logprobs=None,
        prompt_logprobs=None,
        detokenize=True,
        skip_special_tokens=True,
        spaces_between_special_tokens=True,
        include_stop_str_in_output=False,
        output_kind=RequestOutputKind.CUMULATIVE,
        logit_bias=None,
        allowed_token_ids=None,
        bad_words=None,
        truncate_prompt_tokens=None,
        logits_processors=None,
    ):
        values = dict(locals())
        self.logits_processors = logits_processors
        for name in _FIELDS:
            setattr(self, name, values[name])
        # vLLM's normalisation (SamplingParams.__post_init__), done by the engine: the fields it changed come back.
        sp = self._native_unchecked()
        before = {name: getattr(sp, name) for name in _FIELDS}
        warning = sp.normalize()
        if warning:
            warnings.warn(warning, stacklevel=2)
        for name in _FIELDS:
            after = getattr(sp, name)
            if after != before[name]:
                setattr(self, name, _from_native_value(name, after))
        self._to_native()  # validates

    def __setattr__(self, name, value):
        if name == "logits_processors":
            if value is not None and (not isinstance(value, (list, tuple)) or not all(callable(f) for f in value)):
                raise TypeError(f"{_OWNER}: logits_processors must be a list of callables or None, got {value!r}")
            object.__setattr__(self, name, None if value is None else list(value))
            return
        convert = _FIELDS.get(name)
        if convert is None:
            raise AttributeError(f"{_OWNER} has no field {name!r}; fields: {', '.join(_FIELDS)}")
        object.__setattr__(self, name, convert(name, value))

    def _native_unchecked(self):
        sp = native.SamplingParams()
        for name in _FIELDS:
            setattr(sp, name, _to_native_value(name, getattr(self, name)))
        return sp

    def _to_native(self):
        """The engine's struct, validated: VLLMValidationError naming the field when a value is out of range."""
        sp = self._native_unchecked()
        try:
            sp.validate()
        except VLLMValidationError as e:
            if e.value is None and e.parameter in _FIELDS:
                e.value = getattr(self, e.parameter)
            raise
        return sp

    def _values(self):
        return {name: getattr(self, name) for name in self.__slots__}

    def clone(self):
        return SamplingParams(**self._values())

    def __eq__(self, other):
        if not isinstance(other, SamplingParams):
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None

    def __reduce__(self):
        return (_from_fields, (self._values(),))

    def __repr__(self):
        return f"{_OWNER}(" + ", ".join(f"{name}={value!r}" for name, value in self._values().items()) + ")"


def _from_fields(fields):
    return SamplingParams(**fields)


class BeamSearchParams:
    """vLLM's beam-search options for LLM.beam_search: beam_width beams, at most max_tokens generated tokens each.

    ignore_eos: keep extending beams past the EOS token. temperature: applied to the logits before the
    candidates are drawn (0: the top tokens by log-probability). length_penalty: finished beams are ranked by
    cum_logprob / len(tokens) ** length_penalty (tokens with the prompt, not counting a final EOS).
    include_stop_str_in_output: a beam that ends with EOS keeps it in its tokens."""

    __slots__ = ("beam_width", "max_tokens", "ignore_eos", "temperature", "length_penalty", "include_stop_str_in_output")

    def __init__(self, beam_width, max_tokens, ignore_eos=False, temperature=0.0, length_penalty=1.0,
                 include_stop_str_in_output=False):
        owner = "BeamSearchParams"
        self.beam_width = _checks.as_int(owner, "beam_width", beam_width)
        self.max_tokens = _checks.as_int(owner, "max_tokens", max_tokens)
        if self.beam_width < 1:
            raise ValueError(f"{owner}: beam_width must be at least 1, got {self.beam_width}")
        if self.max_tokens < 1:
            raise ValueError(f"{owner}: max_tokens must be at least 1, got {self.max_tokens}")
        self.ignore_eos = _checks.as_bool(owner, "ignore_eos", ignore_eos)
        self.temperature = _checks.as_float(owner, "temperature", temperature)
        if self.temperature < 0:
            raise ValueError(f"{owner}: temperature must be non-negative, got {self.temperature}")
        self.length_penalty = _checks.as_float(owner, "length_penalty", length_penalty)
        self.include_stop_str_in_output = _checks.as_bool(owner, "include_stop_str_in_output",
                                                          include_stop_str_in_output)

    def __eq__(self, other):
        if not isinstance(other, BeamSearchParams):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    __hash__ = None

    def __repr__(self):
        return "BeamSearchParams(" + ", ".join(f"{s}={getattr(self, s)!r}" for s in self.__slots__) + ")"
