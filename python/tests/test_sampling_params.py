"""SamplingParams: vLLM's defaults, normalisation, and errors that name the field (no model needed)."""

import pickle

import pytest

from shardlm import SamplingParams


def test_defaults_are_vllms():
    sp = SamplingParams()
    assert (sp.n, sp.presence_penalty, sp.frequency_penalty, sp.repetition_penalty) == (1, 0.0, 0.0, 1.0)
    assert (sp.temperature, sp.top_p, sp.top_k, sp.min_p) == (1.0, 1.0, 0, 0.0)
    assert sp.seed is None and sp.stop == [] and sp.stop_token_ids == []
    assert (sp.ignore_eos, sp.max_tokens, sp.min_tokens, sp.logprobs) == (False, 16, 0, None)
    assert sp.skip_special_tokens is True and sp.include_stop_str_in_output is False


def test_keywords_and_normalisation():
    sp = SamplingParams(temperature=0.8, top_p=0.95, top_k=-1, stop="\n", stop_token_ids=(5, 7), seed=3, max_tokens=None)
    assert sp.temperature == pytest.approx(0.8) and sp.top_p == pytest.approx(0.95)
    assert sp.top_k == -1  # vLLM's "disabled" spelling is accepted
    assert sp.stop == ["\n"] and sp.stop_token_ids == [5, 7] and sp.seed == 3 and sp.max_tokens is None
    assert SamplingParams(temperature=1).temperature == 1.0  # ints are fine for floats


def test_attributes_are_writable():
    sp = SamplingParams()
    sp.temperature = 0
    sp.max_tokens = 4
    sp.stop = "x"
    assert (sp.temperature, sp.max_tokens, sp.stop) == (0.0, 4, ["x"])
    with pytest.raises(TypeError, match="max_tokens"):
        sp.max_tokens = "4"
    with pytest.raises(AttributeError, match="best_of"):
        sp.best_of = 2


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"n": 0}, "n"),
        ({"temperature": -1.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": -2}, "top_k"),
        ({"min_p": 1.5}, "min_p"),
        ({"presence_penalty": 3.0}, "presence_penalty"),
        ({"frequency_penalty": -3.0}, "frequency_penalty"),
        ({"repetition_penalty": 0.0}, "repetition_penalty"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"min_tokens": -1}, "min_tokens"),
        ({"min_tokens": 8, "max_tokens": 4}, "min_tokens"),
        ({"logprobs": -2}, "logprobs"),
        ({"n": 2**40}, "n"),
    ],
)
def test_invalid_values_raise_value_error_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SamplingParams(**kwargs)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"temperature": "hot"}, "temperature"),
        ({"n": 1.5}, "n"),
        ({"top_k": None}, "top_k"),
        ({"seed": 1.0}, "seed"),
        ({"stop": 5}, "stop"),
        ({"stop": ["a", 3]}, r"stop\[1\]"),
        ({"stop_token_ids": ["a"]}, r"stop_token_ids\[0\]"),
        ({"ignore_eos": "yes"}, "ignore_eos"),
        ({"max_tokens": True}, "max_tokens"),
    ],
)
def test_wrong_types_raise_type_error_naming_the_field(kwargs, field):
    with pytest.raises(TypeError, match=field):
        SamplingParams(**kwargs)


def test_unknown_keyword_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="best_of"):
        SamplingParams(best_of=2)


def test_pickle_repr_clone_eq():
    sp = SamplingParams(temperature=0.5, stop=["a"], seed=7, logprobs=2)
    assert pickle.loads(pickle.dumps(sp)) == sp
    assert sp.clone() == sp and sp.clone() is not sp
    r = repr(sp)
    assert r.startswith("SamplingParams(n=1, presence_penalty=0.0") and "temperature=0.5" in r and "seed=7" in r


def test_vllm_normalisation_and_validation_error():
    # vLLM's __post_init__: seed -1 is None, logprobs=True is 1, tiny temperatures are raised to 0.01 with a
    # warning, greedy decoding drops top_p/top_k/min_p; invalid values raise VLLMValidationError (a ValueError)
    # naming the parameter and value.
    from shardlm.exceptions import VLLMValidationError

    assert SamplingParams(seed=-1).seed is None
    assert SamplingParams(logprobs=True).logprobs == 1
    with pytest.warns(UserWarning, match="temperature"):
        assert SamplingParams(temperature=0.005).temperature == 0.01
    greedy = SamplingParams(temperature=0, top_p=0.5, top_k=3, min_p=0.2)
    assert (greedy.top_p, greedy.top_k, greedy.min_p) == (1.0, 0, 0.0)
    assert SamplingParams(temperature=0.7, top_p=0.5).top_p == 0.5
    with pytest.raises(VLLMValidationError) as e:
        SamplingParams(top_p=2)
    assert isinstance(e.value, ValueError) and e.value.parameter == "top_p" and e.value.value == 2.0
    assert SamplingParams(seed=2**63 - 1).seed == 2**63 - 1
