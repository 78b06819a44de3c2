"""LLM.beam_search against a beam search written here over transformers' fp32 forward pass (the same rules as
vLLM's: 2 * beam_width candidates per beam and step, EOS finishes a beam, finished and live beams ranked by
cum_logprob / len ** length_penalty): the best sequence's tokens equal and its cum_logprob within 1e-4; every
returned beam's cum_logprob is the sum of its own token logprobs; beam_width=1 is greedy decoding."""

import types

import pytest

from conftest import FIXTURES

from shardlm import LLM, BeamSearchOutput, BeamSearchParams, SamplingParams
from shardlm.beam_search import run_beam_search
from shardlm.sampling_params import BeamSearchParams as FromModule

torch = pytest.importorskip("torch", reason="transformers is the reference")
transformers = pytest.importorskip("transformers", reason="transformers is the reference")

PROMPTS = {
    "tiny-opt": [2, 100, 2003, 16, 10, 205, 2977, 9],
    "tiny-llama": [1, 450, 5434, 310, 319, 29902, 338, 263],
}


@pytest.fixture(scope="module", params=sorted(PROMPTS))
def model(request):
    folder = FIXTURES / "models" / request.param
    if not folder.exists():
        pytest.skip(f"SKIPPED LOUDLY: fixture {folder} is absent")
    hf = transformers.AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    llm = LLM(str(folder), dtype="float32", device="cpu", max_model_len=128)
    return request.param, hf, llm


def _reference(hf, prompt, width, max_tokens, eos, length_penalty=1.0, ignore_eos=False, keep_eos=False):
    """[(tokens with the prompt, cum_logprob)] best first, written independently of shardlm."""

    def score(beam):
        tokens, cum = beam
        return cum / ((len(tokens) - (tokens[-1] == eos)) ** length_penalty)

    live, done = [(list(prompt), 0.0)], []
    for _ in range(max_tokens):
        candidates = []
        for tokens, cum in live:
            with torch.no_grad():
                logp = torch.log_softmax(hf(torch.tensor([tokens])).logits[0, -1].double(), dim=-1)
            top = torch.topk(logp, 2 * width)
            for lp, token in zip(top.values.tolist(), top.indices.tolist()):
                if token == eos and not ignore_eos:
                    done.append((tokens + [token] if keep_eos else tokens, cum + lp))
                else:
                    candidates.append((tokens + [token], cum + lp))
        live = sorted(candidates, key=score, reverse=True)[:width]
    return sorted(done + live, key=score, reverse=True)[:width]


@pytest.mark.parametrize("width,max_tokens,length_penalty", [(2, 6, 1.0), (4, 5, 0.5)])
def test_best_beam_matches_reference(model, width, max_tokens, length_penalty):
    name, hf, llm = model
    prompt = PROMPTS[name]
    eos = llm.get_tokenizer().eos_token_id
    params = BeamSearchParams(beam_width=width, max_tokens=max_tokens, length_penalty=length_penalty)
    [out] = llm.beam_search([{"prompt_token_ids": prompt}], params)
    assert isinstance(out, BeamSearchOutput) and len(out.sequences) == width
    ref = _reference(hf, prompt, width, max_tokens, eos, length_penalty)
    best = out.sequences[0]
    assert best.tokens == ref[0][0]
    assert best.cum_logprob == pytest.approx(ref[0][1], abs=1e-4)
    assert best.text == llm.get_tokenizer().decode(best.tokens)
    for seq in out.sequences:
        assert seq.tokens[: len(prompt)] == prompt
        generated = seq.tokens[len(prompt):]
        assert len(seq.logprobs) == len(generated) + (seq.finish_reason == "stop")
        own = sum(step[t].logprob for step, t in zip(seq.logprobs, generated))
        if seq.finish_reason == "stop":
            own += seq.logprobs[-1][eos].logprob
        assert seq.cum_logprob == pytest.approx(own, abs=1e-5)
        assert seq.finish_reason in ("stop", "length")


def test_text_prompts_several_at_once_and_ignore_eos(model):
    name, hf, llm = model
    tok = llm.get_tokenizer()
    text = "The capital of France is"
    params = BeamSearchParams(beam_width=3, max_tokens=4, ignore_eos=True)
    outs = llm.beam_search([text, {"prompt_token_ids": PROMPTS[name]}], params)
    assert len(outs) == 2
    for prompt, out in zip([tok.encode(text), PROMPTS[name]], outs):
        ref = _reference(hf, prompt, 3, 4, tok.eos_token_id, ignore_eos=True)
        assert [s.tokens for s in out.sequences] == [t for t, _ in ref]
        assert all(len(s.tokens) == len(prompt) + 4 for s in out.sequences)


def test_width_one_is_greedy(model):
    name, _, llm = model
    prompt = PROMPTS[name]
    [out] = llm.beam_search([{"prompt_token_ids": prompt}], BeamSearchParams(1, 8, ignore_eos=True))
    [greedy] = llm.generate([{"prompt_token_ids": prompt}], SamplingParams(temperature=0, max_tokens=8, ignore_eos=True),
                            use_tqdm=False)
    assert out.sequences[0].tokens == prompt + greedy.outputs[0].token_ids


def test_params_are_checked():
    assert FromModule is BeamSearchParams
    with pytest.raises(ValueError, match="beam_width"):
        BeamSearchParams(beam_width=0, max_tokens=4)
    with pytest.raises(ValueError, match="max_tokens"):
        BeamSearchParams(beam_width=2, max_tokens=0)
    with pytest.raises(TypeError, match="beam_width"):
        BeamSearchParams(beam_width="2", max_tokens=4)


@pytest.mark.parametrize("keep_eos", [False, True])
def test_beams_ending_at_eos(model, keep_eos):
    """The random-weight fixtures never rank their EOS among the candidates, so another id stands in for it: the
    prompt's greedy first token, which every first step proposes. Beams that pick it finish ("stop"), with it
    in their tokens only under include_stop_str_in_output, and are ranked with the live ones."""
    name, hf, llm = model
    prompt = PROMPTS[name]
    [greedy] = llm.generate([{"prompt_token_ids": prompt}], SamplingParams(temperature=0, max_tokens=1), use_tqdm=False)
    eos = greedy.outputs[0].token_ids[0]
    pretend = types.SimpleNamespace(
        get_tokenizer=lambda: types.SimpleNamespace(eos_token_id=eos, decode=llm.get_tokenizer().decode),
        generate=llm.generate, _engine=llm._engine)
    params = BeamSearchParams(3, 4, length_penalty=2.0, include_stop_str_in_output=keep_eos)
    [out] = run_beam_search(pretend, [prompt], params, use_tqdm=False)
    ref = _reference(hf, prompt, 3, 4, eos, length_penalty=2.0, keep_eos=keep_eos)
    assert [s.tokens for s in out.sequences] == [t for t, _ in ref]
    assert [s.cum_logprob for s in out.sequences] == pytest.approx([c for _, c in ref], abs=1e-4)
    stopped = [s for s in out.sequences if s.finish_reason == "stop"]
    assert stopped, "the stand-in EOS should finish a beam that ranks among the best"
    for s in stopped:
        assert s.stop_reason == eos and (s.tokens[-1] == eos) == keep_eos
