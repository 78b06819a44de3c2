"""SamplingParams: vLLM's per-request decoding options (same names, defaults, normalisation and validation
messages), converted to the engine's native struct for each request."""

import warnings

from shardlm import _checks
from shardlm._native import native
from shardlm.exceptions import VLLMValidationError

_SAMPLING_EPS = 1e-5  # below it, temperature means greedy decoding (vLLM's)
_MIN_TEMP = 1e-2  # smaller positive temperatures are raised to it, as vLLM does (numerical safety)

_OWNER = "SamplingParams"


def _stop(value):
    if value is None:
        return []
    if isinstance(value, str):
        return [_checks.as_str(_OWNER, "stop", value)]
    if isinstance(value, (list, tuple)):
        return [_checks.as_str(_OWNER, f"stop[{i}]", s) for i, s in enumerate(value)]
    raise TypeError(f"{_OWNER}: stop must be a str, a list of str or None, got {type(value).__name__} {value!r}")


# Field -> converter, in vLLM's order (also the order of __repr__).
_FIELDS = {
    "n": lambda v: _checks.as_int(_OWNER, "n", v),
    "presence_penalty": lambda v: _checks.as_float(_OWNER, "presence_penalty", v),
    "frequency_penalty": lambda v: _checks.as_float(_OWNER, "frequency_penalty", v),
    "repetition_penalty": lambda v: _checks.as_float(_OWNER, "repetition_penalty", v),
    "temperature": lambda v: _checks.as_float(_OWNER, "temperature", v),
    "top_p": lambda v: _checks.as_float(_OWNER, "top_p", v),
    "top_k": lambda v: _checks.as_int(_OWNER, "top_k", v),
    "min_p": lambda v: _checks.as_float(_OWNER, "min_p", v),
    "seed": lambda v: _checks.as_int(_OWNER, "seed", v, allow_none=True, bounds=_checks.INT64),
    "stop": _stop,
    "stop_token_ids": lambda v: _checks.as_int_list(_OWNER, "stop_token_ids", v),
    "include_stop_str_in_output": lambda v: _checks.as_bool(_OWNER, "include_stop_str_in_output", v),
    "ignore_eos": lambda v: _checks.as_bool(_OWNER, "ignore_eos", v),
    "max_tokens": lambda v: _checks.as_int(_OWNER, "max_tokens", v, allow_none=True),
    "min_tokens": lambda v: _checks.as_int(_OWNER, "min_tokens", v),
    # vLLM: logprobs=True means 1 (the sampled token's and the top one's).
    "logprobs": lambda v: 1 if v is True else _checks.as_int(_OWNER, "logprobs", v, allow_none=True),
    "skip_special_tokens": lambda v: _checks.as_bool(_OWNER, "skip_special_tokens", v),
}


class SamplingParams:
    """Sampling parameters for text generation, as vllm.SamplingParams.

    Invalid values raise ValueError naming the field (when constructed, and again at generate() for values
    assigned later); values of the wrong type raise TypeError naming the field. temperature below 1e-5
    means greedy decoding; top_k 0 or -1 disables top-k; seed None (or -1) draws from the engine's seed;
    max_tokens None generates up to max_model_len; logprobs N returns the top N log-probabilities per
    token besides the sampled one (-1: the whole vocabulary).
    """

    __slots__ = tuple(_FIELDS)

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
        skip_special_tokens=True,
        include_stop_str_in_output=False,
    ):
        values = dict(locals())
        for name in _FIELDS:
            setattr(self, name, values[name])
        # vLLM's normalisation (SamplingParams.__post_init__).
        if self.seed == -1:
            self.seed = None
        if 0 < self.temperature < _MIN_TEMP:
            warnings.warn(f"temperature {self.temperature} is less than {_MIN_TEMP}, which may cause numerical errors "
                          f"nan or inf in tensors; it is raised to {_MIN_TEMP}", stacklevel=2)
            self.temperature = _MIN_TEMP
        if self.temperature < _SAMPLING_EPS:  # greedy: the truncations mean nothing
            self.top_p, self.top_k, self.min_p = 1.0, 0, 0.0
        self._to_native()  # validates

    def __setattr__(self, name, value):
        convert = _FIELDS.get(name)
        if convert is None:
            raise AttributeError(f"{_OWNER} has no field {name!r}; fields: {', '.join(_FIELDS)}")
        object.__setattr__(self, name, convert(value))

    def _to_native(self):
        """The engine's struct, validated: ValueError naming the field when a value is out of range."""
        sp = native.SamplingParams()
        for name in _FIELDS:
            setattr(sp, name, getattr(self, name))
        try:
            sp.validate()
        except ValueError as e:  # the engine's messages start with the field's name
            parameter = str(e).split(" ", 1)[0]
            value = getattr(self, parameter, None) if parameter in _FIELDS else None
            raise VLLMValidationError(str(e), parameter=parameter if parameter in _FIELDS else None,
                                      value=value) from None
        return sp

    def clone(self):
        return SamplingParams(**{name: getattr(self, name) for name in _FIELDS})

    def __eq__(self, other):
        if not isinstance(other, SamplingParams):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in _FIELDS)

    __hash__ = None

    def __reduce__(self):
        return (_from_fields, ({name: getattr(self, name) for name in _FIELDS},))

    def __repr__(self):
        return f"{_OWNER}(" + ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS) + ")"


def _from_fields(fields):
    return SamplingParams(**fields)
