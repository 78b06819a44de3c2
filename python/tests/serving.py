"""Starting `shardlm serve` for tests and reading its /metrics: shared by the server's test files."""

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
