"""logit_bias, allowed_token_ids and bad_words change greedy decoding exactly as predicted from the unbiased
logits: the reference is transformers' fp32 model recomputed at every step (no cache), with the rule applied
in plain Python (bad words tokenized by transformers' tokenizer as vLLM's update_from_tokenizer does).
Also detokenize=False, truncate_prompt_tokens and output_kind."""

import pytest

from conftest import FIXTURES

from shardlm import LLM, SamplingParams
from shardlm.exceptions import VLLMValidationError
from shardlm.sampling_params import RequestOutputKind

torch = pytest.importorskip("torch", reason="transformers is the reference")
transformers = pytest.importorskip("transformers", reason="transformers is the reference")

STEPS = 6


@pytest.fixture(scope="module", params=["tiny-llama", "tiny-opt"])
def model(request):
    folder = FIXTURES / "models" / request.param
    if not folder.exists():
        pytest.skip(f"SKIPPED LOUDLY: fixture {folder} is absent")
    hf = transformers.AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    tok = transformers.AutoTokenizer.from_pretrained(str(folder))
    llm = LLM(str(folder), dtype="float32", device="cpu")
    return folder, hf, tok, llm


def _greedy_with(hf, ids, adjust, steps=STEPS):
    """Greedy decoding of transformers' model where adjust(logits, output_so_far) edits each step's logits.
    Returns the tokens and, per step, the margin between the chosen and the runner-up adjusted logit."""
    out, margins = [], []
    for _ in range(steps):
        with torch.no_grad():
            logits = hf(torch.tensor([ids + out])).logits[0, -1].double()
        logits = adjust(logits.clone(), out)
        top2 = torch.topk(logits, 2)
        out.append(int(top2.indices[0]))
        margins.append(float(top2.values[0] - top2.values[1]))
    return out, margins


def _assert_same_until_a_near_tie(ours, theirs, margins):
    for step, (a, b) in enumerate(zip(ours, theirs)):
        if margins[step] < 1e-3:  # a near-tie: either token is a valid answer; stop comparing
            return
        assert a == b, (step, ours, theirs)


def _prompt(tok):
    return tok("The capital of the country is", add_special_tokens=True)["input_ids"]


def test_logit_bias_picks_the_token_the_biased_logits_predict(model):
    folder, hf, tok, llm = model
    ids = _prompt(tok)
    with torch.no_grad():
        first = hf(torch.tensor([ids])).logits[0, -1].double()
    order = torch.argsort(first, descending=True)
    target = int(order[7])  # the 8th most likely first token, lifted just above the best one
    bias = {target: float(first[order[0]] - first[target]) + 0.5, int(order[1]): -3.0}

    def adjust(logits, _):
        for t, b in bias.items():
            logits[t] += b
        return logits

    want, margins = _greedy_with(hf, ids, adjust)
    assert want[0] == target
    got = llm.generate({"prompt_token_ids": ids}, SamplingParams(temperature=0, max_tokens=STEPS, ignore_eos=True,
                                                                  logit_bias=bias), use_tqdm=False)[0]
    _assert_same_until_a_near_tie(got.outputs[0].token_ids, want, margins)
    # String keys, as OpenAI requests send them, mean the same.
    again = llm.generate({"prompt_token_ids": ids}, SamplingParams(temperature=0, max_tokens=STEPS, ignore_eos=True,
                                                                    logit_bias={str(k): v for k, v in bias.items()}),
                         use_tqdm=False)[0]
    assert again.outputs[0].token_ids == got.outputs[0].token_ids


def test_allowed_token_ids_restrict_every_step(model):
    folder, hf, tok, llm = model
    ids = _prompt(tok)
    allowed = [5, 17, 300, 301, 1000, 2500, 7777]

    def adjust(logits, _):
        mask = torch.full_like(logits, float("-inf"))
        mask[allowed] = 0.0
        return logits + mask

    want, margins = _greedy_with(hf, ids, adjust)
    got = llm.generate({"prompt_token_ids": ids}, SamplingParams(temperature=0, max_tokens=STEPS, ignore_eos=True,
                                                                  allowed_token_ids=allowed), use_tqdm=False)[0]
    assert set(got.outputs[0].token_ids) <= set(allowed)
    _assert_same_until_a_near_tie(got.outputs[0].token_ids, want, margins)
    # Sampling too stays inside the allowed set.
    sampled = llm.generate({"prompt_token_ids": ids}, SamplingParams(temperature=1.0, seed=1, max_tokens=20,
                                                                      ignore_eos=True, allowed_token_ids=allowed),
                           use_tqdm=False)[0]
    assert set(sampled.outputs[0].token_ids) <= set(allowed)


def _vllm_bad_words_ids(tok, words):
    """vLLM's SamplingParams.update_from_tokenizer, with transformers' tokenizer."""
    out = []
    for word in words:
        for spaced in (False, True):
            ids = tok.encode((" " if spaced else "") + word.lstrip(), add_special_tokens=False)
            if not ids:
                continue
            if not spaced or (ids[0] != out[-1][0] and len(ids) == len(out[-1])):
                out.append(ids)
    return out


def test_bad_words_are_never_completed(model):
    folder, hf, tok, llm = model
    ids = _prompt(tok)
    steps = 10
    # Whole words only (allowed_token_ids), so that banning the word the output starts with must bite.
    vocab_words = [" the", " of", " and", " cat", " dog", " house", " red", " king", " sea"]
    allowed = [ids_[-1] for ids_ in (tok.encode(w, add_special_tokens=False) for w in vocab_words)]
    free = llm.generate({"prompt_token_ids": ids}, SamplingParams(temperature=0, max_tokens=steps, ignore_eos=True,
                                                                   allowed_token_ids=allowed),
                        use_tqdm=False)[0].outputs[0]
    words = [tok.decode([free.token_ids[0]]).strip(), "of the"]
    banned = _vllm_bad_words_ids(tok, words)

    def adjust(logits, out):
        mask = torch.full_like(logits, float("-inf"))
        mask[allowed] = 0.0
        logits = logits + mask
        for seq in banned:
            prefix = seq[:-1]
            if len(prefix) <= len(out) and (not prefix or out[-len(prefix):] == prefix):
                logits[seq[-1]] = float("-inf")
        return logits

    want, margins = _greedy_with(hf, ids, adjust, steps)
    assert want != free.token_ids, "the reference must show the ban changing the output"
    got = llm.generate({"prompt_token_ids": ids}, SamplingParams(temperature=0, max_tokens=steps, ignore_eos=True,
                                                                  allowed_token_ids=allowed, bad_words=words),
                       use_tqdm=False)[0].outputs[0]
    _assert_same_until_a_near_tie(got.token_ids, want, margins)


def test_detokenize_false_gives_ids_only(llm):
    params = dict(temperature=0, max_tokens=5, ignore_eos=True)
    with_text = llm.generate("Hello there", SamplingParams(**params), use_tqdm=False)[0].outputs[0]
    ids_only = llm.generate("Hello there", SamplingParams(detokenize=False, **params), use_tqdm=False)[0].outputs[0]
    assert with_text.text and ids_only.text == "" and ids_only.token_ids == with_text.token_ids
    with pytest.raises(VLLMValidationError, match="stop strings are only supported when detokenize is True"):
        SamplingParams(detokenize=False, stop=["x"])


def test_truncate_prompt_tokens_keeps_the_last_tokens(llm):
    ids = [2, 100, 2003, 16, 10, 205, 2977, 9, 5, 232]
    params = dict(temperature=0, max_tokens=4, ignore_eos=True)
    cut = llm.generate({"prompt_token_ids": ids}, SamplingParams(truncate_prompt_tokens=4, **params), use_tqdm=False)[0]
    tail = llm.generate({"prompt_token_ids": ids[-4:]}, SamplingParams(**params), use_tqdm=False)[0]
    assert cut.prompt_token_ids == ids[-4:]
    assert cut.outputs[0].token_ids == tail.outputs[0].token_ids
    with pytest.raises(VLLMValidationError, match="truncate_prompt_tokens must be an integer >= 1 or -1, got 0"):
        SamplingParams(truncate_prompt_tokens=0)


def test_output_kind_is_accepted_with_vllms_enum(llm):
    p = SamplingParams(output_kind=RequestOutputKind.FINAL_ONLY, max_tokens=3)
    assert p.output_kind is RequestOutputKind.FINAL_ONLY
    assert len(llm.generate("Hi", p, use_tqdm=False)[0].outputs[0].token_ids) == 3
    with pytest.raises(TypeError, match="output_kind"):
        SamplingParams(output_kind=2)
