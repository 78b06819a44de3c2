"""The sampling parameters that act on logits (logit_bias, allowed_token_ids, bad_words, logprobs with ranks,
prompt_logprobs, min_tokens) on CUDA against the CPU engine, float32, greedy: the same tokens, logprobs within
1e-3, the same ranks where the logprobs are not near-ties. Run on the GPU machine by scripts/gpu/colocation.sh;
skipped without a GPU (the CPU path has its own tests in test_sampling_params.py and test_prompt_logprobs.py)."""

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is installed by scripts/setup.sh; it detects the GPU here")
if not torch.cuda.is_available():
    pytest.skip("no GPU on this machine: CUDA sampling tests run on the GPU machine", allow_module_level=True)

from shardlm import LLM, SamplingParams  # noqa: E402

PROMPTS = ["Hello, my name is", "The capital of France is", "The future of AI is"]
CASES = {
    "logprobs": dict(logprobs=5),
    "logit_bias": dict(logit_bias={50: 30.0, 100: 25.0, 7: -100.0}, logprobs=2),
    "allowed_token_ids": dict(allowed_token_ids=[11, 40, 50, 60, 100, 200, 300], logprobs=3),
    "bad_words": dict(bad_words=["the", " of the"], logprobs=1),
    "prompt_logprobs": dict(prompt_logprobs=3, logprobs=1),
    "min_tokens": dict(min_tokens=12, logprobs=1),
}


def _outputs(llm, extra):
    params = SamplingParams(temperature=0, max_tokens=12, **extra)
    return llm.generate(PROMPTS, params, use_tqdm=False)


def _same_entries(a, b, what):
    assert a.keys() == b.keys() or len(a) == len(b), what
    for t in a.keys() & b.keys():
        assert abs(a[t].logprob - b[t].logprob) <= 1e-3, (what, t, a[t].logprob, b[t].logprob)


@pytest.fixture(scope="module")
def engines(tiny_opt):
    cpu = LLM(str(tiny_opt), device="cpu", dtype="float32", seed=0)
    cuda = LLM(str(tiny_opt), device="cuda", dtype="float32", seed=0, gpu_memory_utilization=0.3)
    return cpu, cuda


@pytest.mark.parametrize("case", sorted(CASES))
def test_cuda_matches_cpu(engines, case):
    cpu, cuda = engines
    for a, b in zip(_outputs(cpu, CASES[case]), _outputs(cuda, CASES[case])):
        x, y = a.outputs[0], b.outputs[0]
        assert x.token_ids == y.token_ids, case
        for i, (ex, ey) in enumerate(zip(x.logprobs, y.logprobs)):
            _same_entries(ex, ey, f"{case} token {i}")
        if CASES[case].get("prompt_logprobs"):
            assert a.prompt_logprobs[0] is None and b.prompt_logprobs[0] is None
            for i, (ex, ey) in enumerate(zip(a.prompt_logprobs[1:], b.prompt_logprobs[1:])):
                _same_entries(ex, ey, f"{case} prompt position {i + 1}")
    if case == "allowed_token_ids":
        assert all(set(o.outputs[0].token_ids) <= set(CASES[case]["allowed_token_ids"]) for o in _outputs(cuda, CASES[case]))
