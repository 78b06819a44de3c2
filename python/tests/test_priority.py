"""generate(..., priority=[...]) under LLM(scheduling_policy="priority"): with one request running at a time the
requests start in (priority, arrival) order (seen in their metrics' first_scheduled_time), under "fcfs" in
arrival order whatever the priorities (vLLM 0.26 ignores them there); outputs are the same as without priorities,
also when a tiny KV cache forces preemptions; vLLM's errors for a wrong length and an unknown policy."""

import pytest

from conftest import TINY_OPT, require_fixtures

from shardlm import LLM, SamplingParams
from shardlm.exceptions import VLLMValidationError

PROMPTS = ["Hello, my name is", "The capital of France is", "The future of AI is", "One two three"]
GREEDY = SamplingParams(temperature=0, max_tokens=6, ignore_eos=True)


def _start_order(outputs):
    return sorted(range(len(outputs)), key=lambda i: outputs[i].metrics.first_scheduled_time)


def test_waiting_requests_start_in_priority_order():
    require_fixtures()
    fcfs = LLM(str(TINY_OPT), max_num_seqs=1, device="cpu")
    by_arrival = fcfs.generate(PROMPTS, GREEDY, use_tqdm=False)
    assert _start_order(by_arrival) == [0, 1, 2, 3]
    ignored = fcfs.generate(PROMPTS, GREEDY, use_tqdm=False, priority=[3, 0, 2, 0])
    assert _start_order(ignored) == [0, 1, 2, 3]
    prio = LLM(str(TINY_OPT), max_num_seqs=1, device="cpu", scheduling_policy="priority")
    ranked = prio.generate(PROMPTS, GREEDY, use_tqdm=False, priority=[3, 0, 2, 0])
    assert _start_order(ranked) == [1, 3, 2, 0]  # lower first, ties by arrival
    assert [o.outputs[0].token_ids for o in ranked] == [o.outputs[0].token_ids for o in by_arrival]


def test_preemption_under_priority_keeps_outputs():
    require_fixtures()
    params = SamplingParams(temperature=0, max_tokens=24, ignore_eos=True)
    alone = LLM(str(TINY_OPT), device="cpu")
    want = [o.outputs[0].token_ids for o in alone.generate(PROMPTS, params, use_tqdm=False)]
    # 6 KV blocks of 16 tokens (16384 bytes each on the CPU): four ~30-token sequences need 8.
    llm = LLM(str(TINY_OPT), device="cpu", scheduling_policy="priority", kv_cache_memory_bytes=6 * 16384)
    outs = llm.generate(PROMPTS, params, use_tqdm=False, priority=[1, 0, 1, 0])
    assert [o.outputs[0].token_ids for o in outs] == want
    preemptions = {m.name: m for m in llm.get_metrics()}["vllm:num_preemptions"].value
    assert preemptions > 0


def test_priority_errors():
    require_fixtures()
    fcfs = LLM(str(TINY_OPT), device="cpu")
    assert len(fcfs.generate(PROMPTS[:2], GREEDY, use_tqdm=False, priority=1)) == 2  # one value for every prompt
    with pytest.raises(VLLMValidationError, match=r"lengths of prompts \(2\) and priority \(3\)") as e:
        fcfs.generate(PROMPTS[:2], GREEDY, use_tqdm=False, priority=[0, 0, 0])
    assert e.value.parameter == "priority"
    with pytest.raises(VLLMValidationError, match=r"lengths of prompts \(2\) and priority \(0\)"):
        fcfs.generate(PROMPTS[:2], GREEDY, use_tqdm=False, priority=[])
    with pytest.raises(TypeError, match="priority"):
        fcfs.generate(PROMPTS[:2], GREEDY, use_tqdm=False, priority="1")
    with pytest.raises(TypeError, match=r"priority\[1\]"):
        fcfs.generate(PROMPTS[:2], GREEDY, use_tqdm=False, priority=[0, "1"])
    with pytest.raises(ValueError, match="scheduling_policy must be 'fcfs' or 'priority'"):
        LLM(str(TINY_OPT), device="cpu", scheduling_policy="lifo")
