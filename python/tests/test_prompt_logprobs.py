"""Prompt logprobs (SamplingParams.prompt_logprobs) against Hugging Face transformers' log_softmax over the
prompt's logits, on the random-weight fixtures in fp32; the same with chunked prefill, batched against one at a
time, after a prefix-cache hit (computed again, as vLLM does), two ranks against one; Logprob.rank against the
rank transformers' logits give; max_logprobs applied to prompt_logprobs."""

import json
import subprocess
import textwrap

import pytest

from conftest import FIXTURES, subprocess_env
from test_distributed import _shardlm_run, without_torch

from shardlm import LLM, SamplingParams
from shardlm.exceptions import VLLMValidationError

torch = pytest.importorskip("torch", reason="transformers is the reference")
transformers = pytest.importorskip("transformers", reason="transformers is the reference")

TOP = 4
PROMPTS = {
    "tiny-opt": [2, 100, 2003, 16, 10, 205, 2977, 9, 5, 232, 31414, 11],
    "tiny-llama": [1, 450, 5434, 310, 319, 29902, 338, 263, 1243, 310, 278, 3186, 322, 901, 29889],
}


@pytest.fixture(scope="module", params=sorted(PROMPTS))
def model(request):
    folder = FIXTURES / "models" / request.param
    if not folder.exists():
        pytest.skip(f"SKIPPED LOUDLY: fixture {folder} is absent")
    return request.param, folder


def _reference(folder, ids):
    """log_softmax of transformers' fp32 logits: row p is the distribution of token p + 1."""
    hf = transformers.AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    with torch.no_grad():
        logits = hf(torch.tensor([ids])).logits[0].double()
    return torch.log_softmax(logits, dim=-1)


def _rank_bounds(row, token, tol=1e-4):
    """vLLM's rank (how many tokens are at least as probable as this one) from transformers' row, as the range
    that tokens within `tol` of it (which fp32 rounding may order either way) allow."""
    return int((row > row[token] + tol).sum()) + 1, int((row >= row[token] - tol).sum())


def _check_against(ref, ids, prompt_logprobs, top=TOP):
    assert len(prompt_logprobs) == len(ids) and prompt_logprobs[0] is None
    for p in range(1, len(ids)):
        row, entry = ref[p - 1], prompt_logprobs[p]
        token = ids[p]
        assert entry[token].logprob == pytest.approx(row[token].item(), abs=2e-4)
        assert _rank_bounds(row, token)[0] <= entry[token].rank <= _rank_bounds(row, token)[1], p
        values, order = torch.sort(row, descending=True)
        ranked = sorted((lp.rank, t) for t, lp in entry.items() if t != token or lp.rank <= top)
        assert [r for r, _ in ranked] == list(range(1, top + 1))
        for k, (r, t) in enumerate(ranked):
            assert entry[t].logprob == pytest.approx(values[k].item(), abs=2e-4)
            # Ids exactly wherever no near-tie can swap them.
            gap_before = k == 0 or values[k - 1] - values[k] > 1e-4
            gap_after = values[k] - values[k + 1] > 1e-4
            if gap_before and gap_after:
                assert t == order[k].item(), (p, k)
        assert len(entry) == top + (0 if entry[token].rank <= top else 1)


def test_prompt_logprobs_match_transformers(model):
    name, folder = model
    ids = PROMPTS[name]
    llm = LLM(str(folder), dtype="float32", device="cpu")
    out = llm.generate({"prompt_token_ids": ids}, SamplingParams(temperature=0, max_tokens=2, prompt_logprobs=TOP),
                       use_tqdm=False)[0]
    _check_against(_reference(folder, ids), ids, out.prompt_logprobs)
    # The sampled tokens' logprobs and ranks go on as before.
    assert out.outputs[0].logprobs is None


def test_sampled_token_rank_is_its_true_rank(model):
    """logprobs=0 returns the sampled token alone, with its true rank (vLLM), from a seeded random draw."""
    name, folder = model
    ids = PROMPTS[name]
    llm = LLM(str(folder), dtype="float32", device="cpu")
    out = llm.generate({"prompt_token_ids": ids}, SamplingParams(temperature=1.5, seed=3, max_tokens=1, logprobs=0),
                       use_tqdm=False)[0].outputs[0]
    token = out.token_ids[0]
    row = _reference(folder, ids)[-1]
    (entry,) = out.logprobs
    assert list(entry) == [token]
    low, high = _rank_bounds(row, token)
    assert low <= entry[token].rank <= high
    assert entry[token].logprob == pytest.approx(row[token].item(), abs=2e-4)


def test_chunked_batched_and_cached_prompt_logprobs_agree(model):
    name, folder = model
    ids = PROMPTS[name]
    other = ids[:5] + ids[::-1][:6]
    params = SamplingParams(temperature=0, max_tokens=3, prompt_logprobs=TOP)
    whole = LLM(str(folder), dtype="float32", device="cpu", block_size=4)
    alone = [whole.generate({"prompt_token_ids": p}, params, use_tqdm=False)[0] for p in (ids, other)]
    # The prompt is now in the prefix cache: without prompt logprobs it is reused, with them it is recomputed.
    plain = whole.generate({"prompt_token_ids": ids}, SamplingParams(temperature=0, max_tokens=1), use_tqdm=False)[0]
    assert plain.num_cached_tokens > 0
    again = whole.generate({"prompt_token_ids": ids}, params, use_tqdm=False)[0]
    assert again.num_cached_tokens == 0
    chunked = LLM(str(folder), dtype="float32", device="cpu", block_size=4, max_num_batched_tokens=5,
                  enable_chunked_prefill=True)
    batched = chunked.generate([{"prompt_token_ids": ids}, {"prompt_token_ids": other}], params, use_tqdm=False)
    for a, b in [(alone[0], again), (alone[0], batched[0]), (alone[1], batched[1])]:
        assert a.outputs[0].token_ids == b.outputs[0].token_ids
        for x, y in zip(a.prompt_logprobs[1:], b.prompt_logprobs[1:]):
            assert sorted(x) == sorted(y)
            for t in x:
                assert x[t].logprob == pytest.approx(y[t].logprob, abs=1e-5) and x[t].rank == y[t].rank
    _check_against(_reference(folder, other), other, batched[1].prompt_logprobs)


def test_max_logprobs_applies_to_prompt_logprobs(tiny_opt):
    llm = LLM(str(tiny_opt), dtype="float32", device="cpu", max_logprobs=3)
    with pytest.raises(VLLMValidationError, match="Requested prompt logprobs of 4, which is greater than max allowed: 3") as e:
        llm.generate("Hello", SamplingParams(prompt_logprobs=4), use_tqdm=False)
    assert e.value.parameter == "prompt_logprobs"
    with pytest.raises(VLLMValidationError, match="prompt logprobs of 50272"):
        llm.generate("Hello", SamplingParams(prompt_logprobs=-1), use_tqdm=False)
    everything = LLM(str(tiny_opt), dtype="float32", device="cpu", max_logprobs=-1)
    out = everything.generate("Hello there", SamplingParams(prompt_logprobs=-1, max_tokens=1), use_tqdm=False)[0]
    assert all(len(entry) == 50272 for entry in out.prompt_logprobs[1:])
    assert sorted(lp.rank for lp in out.prompt_logprobs[1].values()) == list(range(1, 50273))


TP_WORKER = textwrap.dedent(
    """
    import json, os, sys
    from shardlm import LLM, SamplingParams
    llm = LLM(sys.argv[1], tensor_parallel_size=2, device="cpu", dtype="float32")
    ids = json.loads(sys.argv[2])
    out = llm.generate({"prompt_token_ids": ids}, SamplingParams(temperature=0, max_tokens=2, prompt_logprobs=3),
                       use_tqdm=False)[0]
    result = [None] + [{str(t): [lp.logprob, lp.rank] for t, lp in e.items()} for e in out.prompt_logprobs[1:]]
    with open(os.path.join(sys.argv[3], "rank%s.json" % os.environ["RANK"]), "w") as f:
        json.dump(result, f)
    """
)


def test_two_ranks_give_the_prompt_logprobs_of_one(tiny_opt, tmp_path):
    ids = PROMPTS["tiny-opt"]
    worker = tmp_path / "worker.py"
    worker.write_text(TP_WORKER)
    proc = _shardlm_run(without_torch(worker, tiny_opt, json.dumps(ids), tmp_path), env=subprocess_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0 == r1
    one = LLM(str(tiny_opt), dtype="float32", device="cpu").generate(
        {"prompt_token_ids": ids}, SamplingParams(temperature=0, max_tokens=2, prompt_logprobs=3), use_tqdm=False)[0]
    for got, want in zip(r0[1:], one.prompt_logprobs[1:]):
        assert sorted(int(t) for t in got) == sorted(want)
        for t, (lp, rank) in got.items():
            assert lp == pytest.approx(want[int(t)].logprob, abs=1e-4) and rank == want[int(t)].rank
