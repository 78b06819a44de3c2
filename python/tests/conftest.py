"""Paths and shared fixtures for the Python tests.

Run from the repository root: PYTHONPATH=build/python .venv/bin/python -m pytest -q python/tests
The build folder is $SHARDLM_BUILD_DIR (default build/); fixtures are $SHARDLM_FIXTURES (default
../shared/fixtures) and tests that need them skip with a loud message when the folder is absent.
"""

import gc
import json
import os
import pathlib
import sys
import warnings

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("SHARDLM_BUILD_DIR", REPO / "build"))
if not BUILD.is_absolute():
    BUILD = REPO / BUILD
FIXTURES = pathlib.Path(os.environ.get("SHARDLM_FIXTURES", REPO / ".." / "shared" / "fixtures")).resolve()
TINY_OPT = FIXTURES / "models" / "tiny-opt"
PYTHON = sys.executable  # child processes use the interpreter running the tests (the project's venv, with torch)

# The tests import the package from the build tree unless PYTHONPATH already points somewhere.
if str(BUILD / "python") not in sys.path and not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(BUILD / "python"))


def require_fixtures():
    if not TINY_OPT.is_dir():
        message = f"SKIPPED LOUDLY: fixtures not found at {FIXTURES} (expected ../shared/fixtures next to the repository)"
        warnings.warn(message)
        print(message, file=sys.stderr)
        pytest.skip(message)


def require_binary(name):
    path = BUILD / "bin" / name
    if not path.exists():
        pytest.fail(f"{path} is missing: build it with `cmake --build {BUILD} --target {name}`")
    return path


def subprocess_env(**extra):
    """The environment for child Python processes: the package from the build tree, no launcher variables
    of an outer job, one CPU thread per rank."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(BUILD / "python"), os.environ.get("PYTHONPATH", "")] if p)
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture(autouse=True)
def _collect_engines():
    """Engines a test dropped are freed before the next test: an LLM and its torch views refer to each other,
    so only the cycle collector frees them, and on a GPU the next engine checks that its
    gpu_memory_utilization share is free (as vLLM does)."""
    yield
    gc.collect()


@pytest.fixture(scope="session")
def tiny_opt():
    require_fixtures()
    return TINY_OPT


@pytest.fixture(scope="session")
def golden(tiny_opt):
    with open(tiny_opt / "golden.json") as f:
        return json.load(f)["prompts"]


@pytest.fixture(scope="session")
def llm(tiny_opt):
    import shardlm

    return shardlm.LLM(str(tiny_opt))


def comparable_prefix(golden_prompt):
    """How many greedy tokens must match the golden ones: up to and including the first near-tie (margin
    below 1e-2), where a different rounding may legitimately pick the other token (fixtures README)."""
    margins = golden_prompt["top1_minus_top2"]
    for i, m in enumerate(margins):
        if m < 1e-2:
            return i + 1
    return len(margins)


def pytest_terminal_summary(terminalreporter):
    if not TINY_OPT.is_dir():
        terminalreporter.write_line(
            f"*** Python tests needing fixtures were SKIPPED: {FIXTURES} is absent (clone ../shared beside the repository) ***",
            red=True,
        )
