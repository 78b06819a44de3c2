"""Self-launched tensor parallelism (vLLM's "mp" executor): LLM(M, tensor_parallel_size=2) in a plain process
starts its second rank itself. Checked against TP=1 (greedy tokens and logprobs), with sleep/wake_up and
reset_prefix_cache forwarded, a dead worker surfacing as an error naming it, workers gone after the LLM,
Ctrl-C aborting a call on both ranks, and the CLI without a launcher (the server's: test_server_self_launch.py)."""

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import BUILD, require_fixtures

shardlm = pytest.importorskip("shardlm")

PROMPTS = ["Hello, my name is", "The capital of France is", "The future of AI is"]
GREEDY = dict(temperature=0, max_tokens=12, ignore_eos=True, logprobs=2)


def _workers():
    """pids of this process's `shardlm _worker` children."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if ppid == os.getpid() and b"_worker" in cmd:
            pids.append(int(entry))
    return pids


def _run(llm, **extra):
    params = shardlm.SamplingParams(**{**GREEDY, **extra})
    return [(o.outputs[0].token_ids, [lp[t].logprob for t, lp in zip(o.outputs[0].token_ids, o.outputs[0].logprobs)])
            for o in llm.generate(PROMPTS, params, use_tqdm=False)]


def _close(a, b):
    return all(ta == tb and max(abs(x - y) for x, y in zip(la, lb)) < 1e-4 for (ta, la), (tb, lb) in zip(a, b))


@pytest.fixture(scope="module")
def reference(tiny_opt):
    return _run(shardlm.LLM(str(tiny_opt), dtype="float32"))


def test_tp2_without_a_launcher_equals_tp1_and_forwards_calls(tiny_opt, reference):
    llm = shardlm.LLM(str(tiny_opt), tensor_parallel_size=2, dtype="float32", enable_sleep_mode=True)
    assert len(_workers()) == 1
    assert _close(_run(llm), reference)
    # Calls that change engine state reach the worker too, or the ranks would diverge (and hang or differ).
    llm.sleep(level=1)
    llm.wake_up()
    assert llm.reset_prefix_cache()
    assert _close(_run(llm), reference)
    assert _close(_run(llm, n=1, seed=3, temperature=0.0), reference)
    with pytest.raises(RuntimeError, match="started its other tensor-parallel ranks itself"):
        llm.model
    with pytest.raises(RuntimeError, match="torchrun or shardlm-run"):
        llm.collective_rpc("get_model")
    # A call rejected on every rank (an id outside the vocabulary) leaves both ready for the next.
    with pytest.raises(ValueError):
        llm.generate({"prompt_token_ids": [10**6]}, shardlm.SamplingParams(max_tokens=2), use_tqdm=False)
    assert _close(_run(llm), reference)
    del llm
    gc.collect()
    deadline = time.monotonic() + 15
    while _workers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _workers() == []


def test_a_dead_worker_is_an_error_naming_it(tiny_opt):
    llm = shardlm.LLM(str(tiny_opt), tensor_parallel_size=2, dtype="float32", distributed_timeout_s=60)
    (pid,) = _workers()
    os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    with pytest.raises(Exception, match="rank 1"):
        llm.generate(PROMPTS, shardlm.SamplingParams(max_tokens=4), use_tqdm=False)
    assert time.monotonic() - t0 < 10


def test_backend_choices(tiny_opt):
    with pytest.raises(Exception, match="not started by a launcher"):
        shardlm.LLM(str(tiny_opt), tensor_parallel_size=2, distributed_executor_backend="external_launcher")
    with pytest.raises(Exception, match="data_parallel_size > 1 needs a launcher"):
        shardlm.LLM(str(tiny_opt), tensor_parallel_size=2, data_parallel_size=2)
    llm = shardlm.LLM(str(tiny_opt), tensor_parallel_size=2, distributed_executor_backend="mp", dtype="float32")
    assert len(_workers()) == 1
    del llm
    gc.collect()


def test_ctrl_c_aborts_the_call_on_both_ranks(tiny_opt, tmp_path):
    script = tmp_path / "interrupt.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time, shardlm
        llm = shardlm.LLM({str(tiny_opt)!r}, tensor_parallel_size=2, dtype="float32")
        print("READY", flush=True)
        try:
            llm.generate(["Hello"] * 512, shardlm.SamplingParams(max_tokens=400, ignore_eos=True), use_tqdm=False)
            print("NOT INTERRUPTED", flush=True)
        except KeyboardInterrupt:
            print("INTERRUPTED", flush=True)
        out = llm.generate(["The capital of France is"], shardlm.SamplingParams(temperature=0, max_tokens=5), use_tqdm=False)
        print("AFTER", len(out[0].outputs[0].token_ids), flush=True)
    """))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(BUILD / "python"), os.environ.get("PYTHONPATH")) if p))
    # Its own process group, as a terminal's foreground job: SIGINT goes to rank 0 and its worker alike.
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=env, start_new_session=True)
    try:
        assert p.stdout.readline().strip() == "READY"
        time.sleep(0.5)
        os.killpg(p.pid, signal.SIGINT)
        out, _ = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 0, out
    assert "INTERRUPTED" in out and "NOT INTERRUPTED" not in out, out
    assert "AFTER 5" in out, out


def test_cli_without_a_launcher(tiny_opt):
    require_fixtures()
    cmd = [str(BUILD / "bin" / "shardlm"), "generate", "--model", str(tiny_opt), "--prompt", "Hello, my name is",
           "--temperature", "0", "--max-tokens", "8", "--ignore-eos", "--no-progress", "--dtype", "float32"]
    one = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    two = subprocess.run(cmd + ["--tensor-parallel-size", "2"], capture_output=True, text=True, timeout=120)
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    assert one.stdout == two.stdout and one.stdout.strip()


def test_priority_reaches_the_workers(tiny_opt, reference):
    # generate(priority=...) travels with the call: the worker schedules in the same order, so the ranks agree.
    llm = shardlm.LLM(str(tiny_opt), tensor_parallel_size=2, dtype="float32", scheduling_policy="priority",
                      max_num_seqs=1)
    outs = llm.generate(PROMPTS, shardlm.SamplingParams(**GREEDY), use_tqdm=False, priority=[2, 0, 1])
    got = [(o.outputs[0].token_ids, [lp[t].logprob for t, lp in zip(o.outputs[0].token_ids, o.outputs[0].logprobs)])
           for o in outs]
    assert _close(got, reference)
    order = sorted(range(3), key=lambda i: outs[i].metrics.first_scheduled_time)
    assert order == [1, 2, 0]
