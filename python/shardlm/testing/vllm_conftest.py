"""A pytest plugin giving vLLM's tests the fixtures of vLLM's tests/conftest.py, on shardlm:

    pytest -p shardlm.testing.vllm_conftest TEST_FILES

Fixtures: vllm_runner and hf_runner (the runner classes, shardlm.testing.runners), example_prompts (eight
prompts: the lines of $SHARDLM_VLLM_EXAMPLE_PROMPTS when set, e.g. a vLLM checkout's tests/prompts/example.txt,
else shardlm's own eight), example_long_prompts, num_gpus_available. Markers vLLM's tests use are registered,
and `optional` tests are skipped unless --optional is given, as vLLM does. scripts/run_vllm_tests.sh runs
vLLM's test files through it after rewriting their imports (vllm -> shardlm) and model ids (to local stand-ins,
shardlm.testing.model_map)."""

import gc
import os

import pytest

from shardlm.testing.runners import HfRunner, VllmRunner

# Eight prompts of mixed length and topic, as vLLM's example prompts are (shardlm's own text).
EXAMPLE_PROMPTS = [
    "shardlm runs large language models on several processes, each holding a shard of the weights.\n",
    "Give a short history of the printing press, from Gutenberg to the first newspapers.\n",
    "Explain how a hash table finds a key, and what happens when two keys collide.\n",
    "List the planets of the solar system in order of their distance from the sun.\n",
    "Write a short poem about a lighthouse keeper who waits for a ship that never comes.\n",
    "Describe how vaccines teach the immune system to recognise a virus it has never met before.\n",
    "Compare walking, cycling and taking the train as ways to cross a city at rush hour.\n",
    "Translate the following sentence into German, Spanish and Italian: 'The river is quiet in the morning.'\n",
]

LONG_PROMPT = (
    "Summarise the following notes in three sentences. " + " ".join(
        f"Note {i}: the meeting on day {i} reviewed the budget, the schedule and the open questions of the project."
        for i in range(1, 41)) + "\n"
)

MARKERS = ("skip_global_cleanup", "optional", "core_model", "cpu_model", "slow_test", "distributed",
           "skip_v1", "cpu_test", "hybrid_model")


def pytest_addoption(parser):
    parser.addoption("--optional", action="store_true", default=False, help="run tests marked optional")


def pytest_configure(config):
    for name in MARKERS:
        config.addinivalue_line("markers", f"{name}: a marker of vLLM's tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--optional"):
        return
    skip = pytest.mark.skip(reason="optional: run with --optional")
    for item in items:
        if "optional" in item.keywords:
            item.add_marker(skip)


def _read_lines(path):
    with open(path) as f:
        return f.readlines()


@pytest.fixture
def example_prompts():
    path = os.environ.get("SHARDLM_VLLM_EXAMPLE_PROMPTS")
    return _read_lines(path) if path else list(EXAMPLE_PROMPTS)


@pytest.fixture
def example_long_prompts():
    path = os.environ.get("SHARDLM_VLLM_LONG_PROMPTS")
    return _read_lines(path) if path else [LONG_PROMPT]


@pytest.fixture(scope="session")
def vllm_runner():
    return VllmRunner


@pytest.fixture(scope="session")
def hf_runner():
    return HfRunner


@pytest.fixture(scope="session")
def num_gpus_available():
    import torch

    return torch.cuda.device_count()


@pytest.fixture(autouse=True)
def _free_engines():
    """An LLM a test dropped is freed before the next test starts (vLLM's cleanup fixture)."""
    yield
    gc.collect()
