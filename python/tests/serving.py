"""Starting `shardlm serve` for tests and reading its /metrics: shared by the server's test files."""

import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import require_binary, subprocess_env

MODEL = "tiny"  # the served model name every server test uses


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_dir, *extra, launcher=(), command=None):
    """Starts the server on a free port; returns (process, base URL ending in /v1) once /health answers."""
    port = free_port()
    command = command or [str(require_binary("shardlm")), "serve", str(model_dir)]
    proc = subprocess.Popen([*launcher, *command, "--device", "cpu", "--served-model-name", MODEL, "--port", str(port),
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=subprocess_env())
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            if proc.poll() is not None:
                pytest.fail("the server exited: " + proc.stdout.read())
            time.sleep(0.2)
    proc.kill()
    pytest.fail("the server did not answer /health within 60 s")


def metric(base_url, name):
    """One sample of /metrics: `name` is the metric after 'shardlm:', with its labels' opening when given."""
    text = urllib.request.urlopen(base_url.replace("/v1", "/metrics"), timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith(f"shardlm:{name}{{" if "{" not in name else f"shardlm:{name}"):
            return float(line.split()[-1])
    raise AssertionError(f"no {name} in /metrics:\n{text}")


def check_serves_like_one_rank(url, prompts, want):
    """A multi-rank server answers `prompts` (greedy, 10 tokens) with `want`'s texts (TP=1's LLM.generate): batched,
    streamed, and again after an idle spell longer than the leader's heartbeat (the followers must still be there)."""
    import openai

    client = openai.OpenAI(base_url=url, api_key="unused")
    out = client.completions.create(model=MODEL, prompt=prompts, max_tokens=10, temperature=0)
    assert [c.text for c in out.choices] == [w.outputs[0].text for w in want]
    text = "".join(c.choices[0].text for c in client.completions.create(
        model=MODEL, prompt=prompts[0], max_tokens=10, temperature=0, stream=True) if c.choices)
    assert text == want[0].outputs[0].text
    time.sleep(2.5)
    again = client.completions.create(model=MODEL, prompt=prompts[1], max_tokens=10, temperature=0)
    assert again.choices[0].text == want[1].outputs[0].text


def check_a_lost_rank_stops_the_server(proc, url, rank_pid, dist_timeout):
    """After one request, kills the process `rank_pid()` names (rank 1): the server must exit non-zero naming rank 1
    within --dist-timeout + 10 s (the documented bound, plus slack)."""
    import openai

    try:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        assert client.completions.create(model=MODEL, prompt="Hi", max_tokens=2).usage.completion_tokens == 2
        os.kill(rank_pid(), signal.SIGKILL)
        start = time.time()
        rc = proc.wait(timeout=60)  # the leader notices at its next broadcast (heartbeat within a second)
        elapsed = time.time() - start
    finally:
        if proc.poll() is None:
            proc.kill()
    log = proc.stdout.read()
    assert rc != 0, log
    assert "the server lost a rank: lost rank 1" in log, log  # the server names it, not only the launcher
    assert elapsed < dist_timeout + 10 + 5, elapsed
