"""`shardlm serve M --tensor-parallel-size 2` in a plain process, as `vllm serve M -tp 2`: the server starts its
second rank itself (a `shardlm _worker` child), which follows the server's engine loop. Checked with the official
`openai` client against TP=1's `LLM.generate` (logprobs, batched, streamed, after an idle spell longer than the
leader's heartbeat), and a killed worker making the server exit non-zero naming rank 1 within the distributed
timeout."""

import signal

import pytest

openai = pytest.importorskip("openai", reason="the openai client is installed by scripts/setup.sh")
from serving import MODEL, check_a_lost_rank_stops_the_server, check_serves_like_one_rank, start_server  # noqa: E402
from shardlm import LLM, SamplingParams  # noqa: E402

PROMPTS = ["Hello, my name is", "The capital of France is"]


def _worker_pids(server_pid):
    """The server's `shardlm _worker` children."""
    pids = []
    for child in open(f"/proc/{server_pid}/task/{server_pid}/children").read().split():
        try:
            if b"_worker" in open(f"/proc/{child}/cmdline", "rb").read().split(b"\0"):
                pids.append(int(child))
        except OSError:
            continue
    return pids


def test_tp2_server_without_a_launcher_serves_what_one_rank_generates(tiny_opt):
    want = LLM(str(tiny_opt), dtype="float32", device="cpu").generate(
        PROMPTS, SamplingParams(temperature=0, max_tokens=10, logprobs=2), use_tqdm=False)
    proc, url = start_server(tiny_opt, "--tensor-parallel-size", "2", "--dtype", "float32")
    try:
        assert len(_worker_pids(proc.pid)) == 1
        client = openai.OpenAI(base_url=url, api_key="unused")
        out = client.completions.create(model=MODEL, prompt=PROMPTS, max_tokens=10, temperature=0, logprobs=2)
        for choice, w in zip(out.choices, want):
            ref = [lp[t].logprob for t, lp in zip(w.outputs[0].token_ids, w.outputs[0].logprobs)]
            assert max(abs(a - b) for a, b in zip(choice.logprobs.token_logprobs, ref)) < 1e-4
        check_serves_like_one_rank(url, PROMPTS, want)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    log = proc.stdout.read()
    assert rc == 0 and "rror" not in log, log


def test_a_killed_worker_stops_the_server_naming_its_rank(tiny_opt):
    proc, url = start_server(tiny_opt, "--tensor-parallel-size", "2", "--dist-timeout", "5")
    (worker,) = _worker_pids(proc.pid)
    check_a_lost_rank_stops_the_server(proc, url, lambda: worker, dist_timeout=5)
