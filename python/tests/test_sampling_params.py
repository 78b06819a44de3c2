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


def test_fields_come_from_the_engine_in_one_list():
    """The engine's SamplingParams::for_each_field is the one field list: the constructor's keywords, the slots
    and the repr follow it, and every vLLM field shardlm implements is there. logits_processors (Python
    callables, refused by generate) follows them."""
    import inspect

    from shardlm._native import native

    names = [name for name, _ in native.SamplingParams.FIELDS] + ["logits_processors"]
    assert list(inspect.signature(SamplingParams.__init__).parameters)[1:] == names
    assert list(SamplingParams.__slots__) == names
    for field in ("prompt_logprobs", "detokenize", "logit_bias", "allowed_token_ids", "bad_words",
                  "spaces_between_special_tokens", "include_stop_str_in_output", "truncate_prompt_tokens",
                  "output_kind"):
        assert field in names


def test_new_fields_validate_as_vllm():
    from shardlm.exceptions import VLLMValidationError
    from shardlm.sampling_params import RequestOutputKind

    assert SamplingParams(prompt_logprobs=True).prompt_logprobs == 1
    assert SamplingParams(stop_token_ids=[3, 3, 4], bad_words=["a", "a"]).stop_token_ids == [3, 4]
    assert SamplingParams(bad_words=["a", "a"]).bad_words == ["a"]
    assert SamplingParams(logit_bias={"5": 1, 7: -2.5}).logit_bias == {5: 1.0, 7: -2.5}
    assert SamplingParams().output_kind is RequestOutputKind.CUMULATIVE
    cases = [
        (dict(prompt_logprobs=-2), "prompt_logprobs", "prompt_logprobs must be non-negative or -1, got -2."),
        (dict(bad_words=["x", ""]), "bad_words", "bad_words cannot contain an empty string."),
        (dict(stop=["x"], detokenize=False), "stop", "stop strings are only supported when detokenize is True."),
        (dict(truncate_prompt_tokens=-5), "truncate_prompt_tokens", "truncate_prompt_tokens must be an integer >= 1 or -1"),
        (dict(logit_bias={"a": 1.0}), "logit_bias", "cannot be converted to integer token IDs: ['a']"),
        (dict(n=2, temperature=0), "n", "n must be 1 when using greedy sampling, got 2."),
    ]
    for kwargs, parameter, message in cases:
        with pytest.raises(VLLMValidationError) as e:
            SamplingParams(**kwargs)
        assert e.value.parameter == parameter and message in str(e.value), (kwargs, e.value)
    with pytest.raises(TypeError, match="allowed_token_ids"):
        SamplingParams(allowed_token_ids="1,2")


def test_model_bound_checks_raise_at_generate(llm):
    from shardlm.exceptions import VLLMValidationError

    for kwargs, parameter, message in [
        (dict(allowed_token_ids=[]), "allowed_token_ids", "allowed_token_ids is not None and empty!"),
        (dict(allowed_token_ids=[1, 10**6]), "allowed_token_ids", "out-of-vocab"),
        (dict(logit_bias={10**6: 1.0}), "logit_bias", "token_id(s) [1000000] in logit_bias contain out-of-vocab"),
        (dict(stop_token_ids=[10**6]), "stop_token_ids", "in stop_token_ids contain out-of-vocab token ids"),
        (dict(logprobs=21), "logprobs", "Requested sample logprobs of 21, which is greater than max allowed: 20"),
    ]:
        with pytest.raises(VLLMValidationError) as e:
            llm.generate("Hi", SamplingParams(**kwargs), use_tqdm=False)
        assert e.value.parameter == parameter and message in str(e.value), (kwargs, e.value)


def test_logits_processors_are_accepted_then_refused_by_generate(llm):
    """vLLM 0.26 keeps logits_processors in SamplingParams and refuses them per request (V1); so does shardlm."""
    from shardlm.exceptions import VLLMValidationError

    def pick_first(token_ids, logits):
        return logits

    params = SamplingParams(max_tokens=2, logits_processors=[pick_first])
    assert params.logits_processors == [pick_first] and params.clone() == params
    with pytest.raises(VLLMValidationError, match="logits_processors") as e:
        llm.generate("Hello", params, use_tqdm=False)
    assert e.value.parameter == "logits_processors"
    with pytest.raises(VLLMValidationError, match="logits_processors"):
        llm.generate(["Hello", "Hi"], [SamplingParams(), params], use_tqdm=False)
    with pytest.raises(TypeError, match="logits_processors"):
        SamplingParams(logits_processors=[1])
    assert len(llm.generate("Hello", SamplingParams(max_tokens=2, logits_processors=[]), use_tqdm=False)) == 1
