"""shardlm.testing, the harness that runs vLLM's own tests (docs/vllm-tests.md), used here the way vLLM's tests
use their conftest: vllm_runner and hf_runner agree with each other (transformers is the reference), the model
map picks local stand-ins, and scripts/run_vllm_tests.sh rewrites and runs a synthetic vLLM checkout."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from conftest import BUILD, FIXTURES, REPO, require_fixtures, subprocess_env

from shardlm import SamplingParams
from shardlm.testing import model_map
from shardlm.testing.vllm_conftest import example_prompts, hf_runner, vllm_runner  # noqa: F401 (fixtures)
from shardlm.testing.vllm_rewrite import rewrite_source

STORIES = str(FIXTURES / "models" / "stories260K")  # trained: greedy choices are clear, not near-ties


@pytest.fixture(autouse=True)
def _fixtures_and_made_models(tmp_path_factory, monkeypatch):
    require_fixtures()
    monkeypatch.setenv("SHARDLM_FIXTURES", str(FIXTURES))
    monkeypatch.setenv("SHARDLM_VLLM_MODELS", str(tmp_path_factory.getbasetemp() / "made-models"))
    monkeypatch.setenv("SHARDLM_BIN", str(BUILD / "bin" / "shardlm"))


def test_greedy_matches_transformers(hf_runner, vllm_runner, example_prompts):
    prompts = example_prompts[:3]
    with hf_runner(STORIES, dtype="half") as hf_model:
        want = hf_model.generate_greedy(prompts, 12)
    with vllm_runner(STORIES, dtype="half") as vllm_model:
        got = vllm_model.generate_greedy(prompts, 12)
    assert [ids for ids, _ in got] == [ids for ids, _ in want]
    for (_, got_text), (_, want_text), prompt in zip(got, want, prompts):
        assert got_text.startswith(prompt)  # vLLM's runner: prompt + output text


def test_logprobs_and_prompt_logprobs_match_transformers(hf_runner, vllm_runner, example_prompts):
    prompts = example_prompts[:2]
    with hf_runner(STORIES) as hf_model:
        top = hf_model.generate_greedy_logprobs_limit(prompts, 6, 3)
        full = hf_model.generate_greedy_logprobs(prompts, 6)
    with vllm_runner(STORIES, max_logprobs=5) as vllm_model:
        results = vllm_model.generate_greedy_logprobs(prompts, 6, 3, num_prompt_logprobs=2)
        with_ids = vllm_model.generate_w_logprobs(prompts, SamplingParams(temperature=0, max_tokens=6, logprobs=3),
                                                  include_prompt_token_ids=True)
    for (ids, text, logprobs, prompt_logprobs), (hf_ids, _, hf_top), hf_steps, (_, _, _, prompt_ids) in zip(
            results, top, full, with_ids):
        assert ids == hf_ids and len(logprobs) == len(ids) == 6
        for token, step, hf_step in zip(ids, logprobs, hf_top):
            assert step[token].rank == 1
            for t, lp in hf_step.items():
                assert step[t].logprob == pytest.approx(lp, abs=1e-3)
        assert prompt_logprobs[0] is None and len(prompt_logprobs) == len(prompt_ids)
        for i, (token, entry) in enumerate(zip(prompt_ids[1:], prompt_logprobs[1:])):
            assert token in entry
            assert entry[token].logprob == pytest.approx(float(hf_steps[0][i][token]), abs=1e-3)


def test_generate_shapes_and_perplexity(vllm_runner, hf_runner):
    prompts = ["Once upon a time", [1, 403, 261]]  # text and token ids, as vLLM's runner takes both
    with vllm_runner(STORIES) as vllm_model:
        outputs = vllm_model.generate(prompts, SamplingParams(n=2, temperature=1.0, max_tokens=4, seed=3))
        (perplexity,) = vllm_model.generate_prompt_perplexity(["Once upon a time there was a girl"])
        assert vllm_model.model is vllm_model.llm is vllm_model.get_llm()
    assert [len(ids) for ids, _ in outputs] == [2, 2]
    assert outputs[1][0][0][:3] == [1, 403, 261] and len(outputs[1][0][0]) == 7
    with hf_runner(STORIES) as hf_model:
        (steps,) = hf_model.generate_greedy_logprobs(["Once upon a time there was a girl"], 1)
        ids = hf_model.tokenizer("Once upon a time there was a girl")["input_ids"]
    want = float(-sum(steps[0][i][t] for i, t in enumerate(ids[1:])) / (len(ids) - 1))
    assert perplexity == pytest.approx(2.718281828 ** want, rel=1e-3)


def test_beam_search_matches_transformers(hf_runner, vllm_runner, example_prompts):
    prompts = example_prompts[:1]
    with hf_runner(STORIES) as hf_model:
        want = hf_model.generate_beam_search(prompts, 2, 8)
    with vllm_runner(STORIES, max_num_seqs=1) as vllm_model:
        got = vllm_model.generate_beam_search(prompts, 2, 8)
        limited = vllm_model.generate_beam_search(example_prompts[:3], 2, 8, concurrency_limit=1)
        assert limited[0] == got[0]
    assert got[0][0] == want[0][0]


def test_runner_refuses_what_shardlm_lacks(vllm_runner):
    with pytest.raises(ValueError, match="runner='pooling' is not supported"):
        vllm_runner(STORIES, runner="pooling")
    with vllm_runner(STORIES) as m:
        with pytest.raises(ValueError, match="images"):
            m.generate(["x"], SamplingParams(), images=[None])


def test_model_map_stand_ins():
    assert model_map.resolve("facebook/opt-125m") == str(FIXTURES / "models" / "tiny-opt")
    long = pathlib.Path(model_map.resolve("meta-llama/Llama-2-7b-hf"))
    config = json.loads((long / "config.json").read_text())
    assert config["max_position_embeddings"] == model_map.LONG_POSITIONS
    assert (long / "model.safetensors").resolve() == (FIXTURES / "models" / "tiny-llama" / "model.safetensors")
    assert model_map.resolve(str(long)) == str(long)  # folders are kept
    chat = pathlib.Path(model_map.resolve("Qwen/Qwen3-0.6B"))
    config = json.loads((chat / "config.json").read_text())
    vocab = json.loads((FIXTURES / "tokenizers" / "qwen3" / "tokenizer.json").read_text())
    assert config["eos_token_id"] == next(t["id"] for t in vocab["added_tokens"] if t["content"] == "<|im_end|>")
    assert model_map.is_model_id("distilbert/distilgpt2") and not model_map.is_model_id("text/plain")
    os.environ["SHARDLM_VLLM_MODEL_MAP"] = "facebook/opt-125m=tiny-opt-bin"
    try:
        assert model_map.resolve("facebook/opt-125m") == str(FIXTURES / "models" / "tiny-opt-bin")
    finally:
        del os.environ["SHARDLM_VLLM_MODEL_MAP"]


def test_rewrite_changes_only_imports_and_model_ids():
    source = (
        "import vllm\n"
        "import vllm.envs as envs\n"
        "from vllm import (LLM,\n    SamplingParams)\n"
        "from vllm.sampling_params import BeamSearchParams\n"
        "from tests.conftest import VllmRunner\n"
        "from ..conftest import HfRunner\n"
        "MODEL = 'facebook/opt-125m'\n"
        "MIME = \"text/plain\"\n"
        "note = 'vllm is not rewritten in text'\n"
    )
    text, replaced = rewrite_source(source, resolve=lambda model: f"/fixtures/{model.split('/')[1]}")
    assert text == (
        "import shardlm as vllm\n"
        "import shardlm.envs as envs\n"
        "from shardlm import (LLM,\n    SamplingParams)\n"
        "from shardlm.sampling_params import BeamSearchParams\n"
        "from shardlm.testing.runners import VllmRunner\n"
        "from shardlm.testing.runners import HfRunner\n"
        "MODEL = '/fixtures/opt-125m'\n"
        "MIME = \"text/plain\"\n"
        "note = 'vllm is not rewritten in text'\n"
    )
    assert replaced == [("facebook/opt-125m", "/fixtures/opt-125m")]


_SYNTHETIC_TEST = '''
import pytest
from vllm import SamplingParams
from vllm.exceptions import VLLMValidationError

MODEL = "facebook/opt-125m"


def test_runner(vllm_runner, example_prompts):
    with vllm_runner(MODEL, dtype="half", max_logprobs=2) as m:
        results = m.generate_w_logprobs(example_prompts[:2], SamplingParams(temperature=0, max_tokens=3, logprobs=2))
    assert [len(r[0]) for r in results] == [3, 3]
    assert all(r[2][0][r[0][0]].rank == 1 for r in results)


def test_bad_params():
    with pytest.raises(VLLMValidationError, match="temperature"):
        SamplingParams(temperature=float("nan"))
'''

_SYNTHETIC_EXAMPLE = '''
from utils import PROMPT
from vllm import LLM, EngineArgs
from vllm.utils import FlexibleArgumentParser

parser = FlexibleArgumentParser()
EngineArgs.add_cli_args(parser)
parser.set_defaults(model="facebook/opt-125m")
llm = LLM(**vars(parser.parse_args()))
print("generated:", llm.generate(PROMPT, llm.get_default_sampling_params(), use_tqdm=False)[0].outputs[0].token_ids)
'''


def _run_script(checkout, *files):
    return subprocess.run(["bash", str(REPO / "scripts" / "run_vllm_tests.sh"), str(checkout), *files],
                          env=subprocess_env(PYTHON=sys.executable, SHARDLM_FIXTURES=FIXTURES), capture_output=True,
                          text=True, timeout=600)


def test_script_runs_a_rewritten_checkout(tmp_path):
    checkout = tmp_path / "vllm"
    (checkout / "tests" / "samplers").mkdir(parents=True)
    (checkout / "tests" / "samplers" / "test_synthetic.py").write_text(_SYNTHETIC_TEST)
    (checkout / "examples" / "basic").mkdir(parents=True)
    (checkout / "examples" / "basic" / "demo.py").write_text(_SYNTHETIC_EXAMPLE)
    (checkout / "examples" / "basic" / "utils.py").write_text("PROMPT = 'Hello, my name is'\n")
    original = (checkout / "tests" / "samplers" / "test_synthetic.py").read_text()
    proc = _run_script(checkout, "tests/samplers/test_synthetic.py", "examples/basic/demo.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| `tests/samplers/test_synthetic.py` | pytest | PASS: 2 passed" in proc.stdout
    assert "| `examples/basic/demo.py` | example | PASS: exit 0 |" in proc.stdout
    assert "generated: [" in proc.stdout
    assert (checkout / "tests" / "samplers" / "test_synthetic.py").read_text() == original  # the checkout is untouched

    (checkout / "tests" / "test_broken.py").write_text("from vllm.assets.audio import AudioAsset\n\ndef test_x():\n    pass\n")
    proc = _run_script(checkout, "tests/test_broken.py")
    assert proc.returncode == 1
    assert "| `tests/test_broken.py` | pytest | FAIL: 1 error" in proc.stdout


def test_cleanup_dist_env_and_memory_frees_a_dropped_llm():
    import weakref

    from shardlm import LLM
    from shardlm.distributed import cleanup_dist_env_and_memory

    gone = weakref.ref(LLM(STORIES, device="cpu"))
    cleanup_dist_env_and_memory()
    assert gone() is None
