"""RequestOutput.metrics and LLM.get_metrics(): token counters equal the outputs' lengths, request_success counts
each finished request under its finish reason, the time-to-first-token histogram one observation per request
(cumulative buckets ending in +Inf == count), queues and KV usage back to zero after generate, and each
request's times ordered arrival <= first_scheduled <= first_token <= last_token <= finished, within the call."""

import time

import pytest

from conftest import TINY_OPT, require_fixtures

from shardlm import LLM, SamplingParams
from shardlm.metrics import Counter, Gauge, Histogram


def _by_name(metrics):
    out = {}
    for m in metrics:
        key = m.name if m.name != "vllm:request_success" else (m.name, m.labels["finished_reason"])
        assert key not in out, key
        out[key] = m
    return out


def test_metrics_agree_with_outputs():
    require_fixtures()
    llm = LLM(str(TINY_OPT), device="cpu")
    before = _by_name(llm.get_metrics())
    for name in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"):
        assert isinstance(before[name], Gauge)
    for name in ("vllm:prompt_tokens", "vllm:generation_tokens", ("vllm:request_success", "stop")):
        assert isinstance(before[name], Counter)
    assert isinstance(before["vllm:time_to_first_token_seconds"], Histogram)

    prompts = ["Hello, my name is", "The capital of France is", "One two"]
    params = [SamplingParams(temperature=0, max_tokens=5, ignore_eos=True),
              SamplingParams(temperature=0.8, seed=1, max_tokens=7, n=2, ignore_eos=True),
              SamplingParams(temperature=0, max_tokens=8, ignore_eos=True)]
    start = time.time()
    outs = llm.generate(prompts, params, use_tqdm=False)
    end = time.time()
    after = _by_name(llm.get_metrics())

    generated = sum(len(c.token_ids) for o in outs for c in o.outputs)
    assert after["vllm:generation_tokens"].value - before["vllm:generation_tokens"].value == generated
    assert after["vllm:prompt_tokens"].value - before["vllm:prompt_tokens"].value == sum(
        len(o.prompt_token_ids) for o in outs)
    finished = after[("vllm:request_success", "length")].value - before[("vllm:request_success", "length")].value
    assert finished == len(prompts)  # every output ran to max_tokens
    ttft, ttft0 = after["vllm:time_to_first_token_seconds"], before["vllm:time_to_first_token_seconds"]
    assert ttft.count - ttft0.count == len(prompts)
    assert list(ttft.buckets)[-1] == "+Inf" and ttft.buckets["+Inf"] == ttft.count
    counts = list(ttft.buckets.values())
    assert counts == sorted(counts)  # cumulative
    e2e = after["vllm:e2e_request_latency_seconds"]
    assert e2e.count == len(prompts) and 0 < e2e.sum <= len(prompts) * (end - start)
    assert after["vllm:num_requests_running"].value == 0 and after["vllm:num_requests_waiting"].value == 0
    assert after["vllm:kv_cache_usage_perc"].value == 0

    for o in outs:
        m = o.metrics
        # (1 ms for the engine's clock, anchored to the wall clock once, against time.time())
        assert start - 1e-3 <= m.arrival_time <= m.first_scheduled_time <= m.first_token_time <= m.last_token_time
        assert m.last_token_time <= m.finished_time <= end + 1e-3
        assert m.time_in_queue == pytest.approx(m.first_scheduled_time - m.arrival_time)
        assert m.first_token_latency == pytest.approx(m.first_token_time - m.arrival_time)
        assert m.num_generation_tokens == sum(len(c.token_ids) for c in o.outputs)


def test_outputs_compare_equal_despite_different_timings():
    require_fixtures()
    llm = LLM(str(TINY_OPT), device="cpu")
    params = SamplingParams(temperature=0, max_tokens=4)
    first, second = (llm.generate(["Hello"], params, use_tqdm=False)[0] for _ in range(2))
    first.request_id = second.request_id
    assert first.metrics.arrival_time != second.metrics.arrival_time
    assert first == second


def test_vllm_reader_path_and_metrics_example_shape():
    """vLLM's examples/offline_inference/metrics.py imports the classes from vllm.v1.metrics.reader and reads
    .name, .value, .count, .sum and .buckets."""
    require_fixtures()
    from shardlm.v1.metrics.reader import Counter as ReaderCounter, Histogram as ReaderHistogram, Vector

    assert ReaderCounter is Counter and ReaderHistogram is Histogram and Vector is not None
    llm = LLM(str(TINY_OPT), device="cpu")
    llm.generate(["Hello"], SamplingParams(max_tokens=2), use_tqdm=False)
    for m in llm.get_metrics():
        assert m.name.startswith("vllm:")
        if isinstance(m, Histogram):
            assert m.count >= 0 and m.sum >= 0 and all(isinstance(k, str) for k in m.buckets)
        else:
            assert isinstance(m.value, int if isinstance(m, Counter) else float)
