"""shardlm.EngineArgs: vLLM's dataclass over the engine's one field list (EngineArgs::for_each_field), with
LLM's defaults, so `LLM(**asdict(args))` builds the same engine; add_cli_args / from_cli_args speak vLLM's flags."""

import ast
import dataclasses
import inspect
import pathlib

import pytest

from conftest import TINY_OPT, require_fixtures

import shardlm
from shardlm import LLM, EngineArgs, SamplingParams
from shardlm._native import native
from shardlm.utils import FlexibleArgumentParser


def test_fields_are_the_engines_with_llms_defaults():
    fields = dataclasses.fields(EngineArgs)
    assert [f.name for f in fields] == [name for name, _, _ in native.EngineArgs.FIELDS]
    llm_defaults = inspect.signature(LLM.__init__).parameters
    for f, (name, kind, native_default) in zip(fields, native.EngineArgs.FIELDS):
        if f.default is dataclasses.MISSING:
            assert name == "model"
            continue
        assert f.default == llm_defaults[name].default
        if f.default is not None:  # None: the engine picks (0 / "" natively); anything else is the engine's default
            assert f.default == native_default, name
    stub = ast.parse((pathlib.Path(shardlm.__file__).parent / "__init__.pyi").read_text())
    cls = next(n for n in stub.body if isinstance(n, ast.ClassDef) and n.name == "EngineArgs")
    assert [n.target.id for n in cls.body if isinstance(n, ast.AnnAssign)] == [f.name for f in fields]


def test_llm_from_asdict_equals_llm_from_keywords():
    require_fixtures()
    args = EngineArgs(model=str(TINY_OPT), max_model_len=64, device="cpu", max_num_seqs=4)
    assert args.create_engine_config().max_num_seqs == 4
    greedy = SamplingParams(temperature=0, max_tokens=8)
    a = LLM(**dataclasses.asdict(args)).generate("Hello, my name is", greedy, use_tqdm=False)
    b = LLM(str(TINY_OPT), max_model_len=64, device="cpu").generate("Hello, my name is", greedy, use_tqdm=False)
    assert a[0].outputs[0].token_ids == b[0].outputs[0].token_ids
    assert LLM(**dataclasses.asdict(args)).llm_engine.vllm_config.model_config.max_model_len == 64


def test_cli_flags_in_vllms_spellings():
    parser = FlexibleArgumentParser()
    group = parser.add_argument_group("Engine arguments")
    EngineArgs.add_cli_args(group)
    args = EngineArgs.from_cli_args(parser.parse_args(
        ["--model", "m", "--max_model_len", "32", "--no-enable-prefix-caching", "--enforce-eager",
         "--gpu-memory-utilization=0.5", "--scheduling-policy", "priority"]))
    assert (args.model, args.max_model_len, args.enable_prefix_caching, args.enforce_eager) == ("m", 32, False, True)
    assert (args.gpu_memory_utilization, args.scheduling_policy, args.max_num_seqs) == (0.5, "priority", None)
    with pytest.raises(SystemExit):
        parser.parse_args(["--max-model-len", "many"])


def test_create_engine_config_names_the_bad_field():
    with pytest.raises(ValueError, match="EngineArgs: max_num_seqs must be at least 1, got 0"):
        EngineArgs(model="m", max_num_seqs=0).create_engine_config()
    with pytest.raises(ValueError, match="EngineArgs: scheduling_policy must be 'fcfs' or 'priority'"):
        EngineArgs(model="m", scheduling_policy="lifo").create_engine_config()
    with pytest.raises(TypeError, match="EngineArgs: block_size must be an int"):
        EngineArgs(model="m", block_size="16").create_engine_config()


def test_unsupported_llm_keywords_are_a_value_error_naming_them():
    with pytest.raises(ValueError, match="LLM: the keyword argument 'speculative_config' is not supported by shardlm"):
        LLM("no-such-model", speculative_config={"num_speculative_tokens": 2})
    require_fixtures()
    llm = LLM(str(TINY_OPT), device="cpu", async_scheduling=False, trust_remote_code=True)  # accepted, no effect
    assert len(llm.generate("Hello", SamplingParams(max_tokens=2), use_tqdm=False)[0].outputs[0].token_ids) == 2


def test_vllms_module_paths():
    from shardlm.engine.arg_utils import EngineArgs as from_arg_utils
    from shardlm.entrypoints.llm import LLM as from_entrypoints
    from shardlm.utils.argparse_utils import FlexibleArgumentParser as from_argparse_utils

    assert (from_arg_utils, from_entrypoints, from_argparse_utils) == (EngineArgs, LLM, FlexibleArgumentParser)
