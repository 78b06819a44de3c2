"""LLM.generate on tiny-opt: greedy tokens against the fixture goldens (transformers) and against the C++
command line, prompt forms, per-prompt SamplingParams, logprobs, stops, rejected prompts, bad arguments."""

import json
import math
import pickle
import shutil
import subprocess

import pytest

import shardlm
from shardlm import LLM, SamplingParams
from conftest import BUILD, comparable_prefix, require_binary

GREEDY = dict(temperature=0.0, max_tokens=24, ignore_eos=True)


def test_greedy_token_ids_match_the_golden_ones(llm, golden):
    prompts = [{"prompt_token_ids": g["prompt_token_ids"]} for g in golden]
    outs = llm.generate(prompts, SamplingParams(**GREEDY), use_tqdm=False)
    assert len(outs) == len(golden)
    for out, g in zip(outs, golden):
        k = comparable_prefix(g)
        assert out.prompt is None and out.prompt_token_ids == g["prompt_token_ids"]
        assert out.finished and len(out.outputs) == 1
        assert out.outputs[0].token_ids[:k] == g["greedy_token_ids"][:k]
        assert out.outputs[0].finish_reason == "length" and out.outputs[0].stop_reason is None


def test_logprobs_of_greedy_tokens_match_the_golden_ones(llm, golden):
    g = golden[1]
    k = comparable_prefix(g)
    [out] = llm.generate({"prompt_token_ids": g["prompt_token_ids"]}, SamplingParams(logprobs=2, **GREEDY), use_tqdm=False)
    c = out.outputs[0]
    assert len(c.logprobs) == len(c.token_ids)
    tok = llm.get_tokenizer()
    for step in range(k):
        chosen = c.token_ids[step]
        entry = c.logprobs[step]
        assert chosen in entry and 2 <= len(entry) <= 3
        assert entry[chosen].logprob == pytest.approx(g["greedy_logprobs"][step], abs=1e-3)
        assert entry[chosen].rank == 1  # greedy picks the most likely token
        assert entry[chosen].decoded_token == tok.decode([chosen], skip_special_tokens=False)
        assert max(lp.logprob for lp in entry.values()) == entry[chosen].logprob
    assert c.cumulative_logprob == pytest.approx(sum(entry[t].logprob for entry, t in zip(c.logprobs, c.token_ids)), abs=1e-3)
    # Outputs pickle (e.g. to send them to another rank with broadcast_object), decoded tokens included.
    again = pickle.loads(pickle.dumps(out))
    assert again == out and again.outputs[0].logprobs[0][c.token_ids[0]].decoded_token == entry_text(tok, c.token_ids[0])


def entry_text(tok, token_id):
    return tok.decode([token_id], skip_special_tokens=False)


def _run_cli(args, tmp_path):
    binary = require_binary("shardlm")
    out_file = tmp_path / "cli.jsonl"
    proc = subprocess.run(
        [str(binary), "generate", *args, "--output-jsonl", str(out_file), "--no-progress"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in out_file.read_text().splitlines()]


def test_greedy_and_seeded_generations_equal_the_command_lines(llm, tiny_opt, golden, tmp_path):
    texts = ["Hello, my name is", "The capital of France is"]
    cli = _run_cli(
        ["--model", str(tiny_opt), "--temperature", "0", "--max-tokens", "24", "--ignore-eos",
         *sum((["--prompt", t] for t in texts), []),
         "--prompt-token-ids", ",".join(map(str, golden[2]["prompt_token_ids"]))],
        tmp_path,
    )
    ours = llm.generate(texts + [{"prompt_token_ids": golden[2]["prompt_token_ids"]}], SamplingParams(**GREEDY), use_tqdm=False)
    assert len(cli) == len(ours) == 3
    for c, o in zip(cli, ours):
        assert o.prompt_token_ids == c["prompt_token_ids"]
        assert o.outputs[0].token_ids == c["outputs"][0]["token_ids"]
        assert o.outputs[0].text == c["outputs"][0]["text"]
    assert ours[0].prompt == texts[0]
    assert ours[0].prompt_token_ids == [2, 31414, 6, 127, 766, 16]  # what vLLM reports for opt-125m

    # Sampling with a per-request seed is reproducible and crosses the binding unchanged.
    cli = _run_cli(
        ["--model", str(tiny_opt), "--temperature", "0.8", "--top-p", "0.95", "--sampling-seed", "1234",
         "--max-tokens", "12", "--prompt", texts[0]],
        tmp_path,
    )
    [o] = llm.generate(texts[0], SamplingParams(temperature=0.8, top_p=0.95, seed=1234, max_tokens=12), use_tqdm=False)
    assert o.outputs[0].token_ids == cli[0]["outputs"][0]["token_ids"]
    assert o.outputs[0].text == cli[0]["outputs"][0]["text"]


def test_prompt_forms_and_per_prompt_params(llm):
    tok = llm.get_tokenizer()
    ids = tok.encode("The future of AI is")
    outs = llm.generate(
        ["The future of AI is", {"prompt": "The future of AI is"}, {"prompt_token_ids": ids}],
        [SamplingParams(temperature=0, max_tokens=3), SamplingParams(temperature=0, max_tokens=5),
         SamplingParams(temperature=0, max_tokens=7)],
        use_tqdm=False,
    )
    assert [len(o.outputs[0].token_ids) for o in outs] == [3, 5, 7]
    assert outs[0].prompt == outs[1].prompt == "The future of AI is" and outs[2].prompt is None
    assert outs[0].prompt_token_ids == outs[1].prompt_token_ids == outs[2].prompt_token_ids == ids
    # The same prompt gives the same greedy start whatever its form.
    assert outs[2].outputs[0].token_ids[:3] == outs[1].outputs[0].token_ids[:3] == outs[0].outputs[0].token_ids
    assert outs[0].outputs[0].text == tok.decode(outs[0].outputs[0].token_ids)
    # vLLM numbers requests across calls.
    later = llm.generate("x", SamplingParams(max_tokens=1), use_tqdm=False)
    assert int(later[0].request_id) > int(outs[2].request_id) > int(outs[0].request_id)


def test_n_samples_stops_and_reprs(llm, golden):
    g = golden[0]
    outs = llm.generate({"prompt_token_ids": g["prompt_token_ids"]}, SamplingParams(n=3, seed=5, max_tokens=6), use_tqdm=False)
    assert [c.index for c in outs[0].outputs] == [0, 1, 2]
    assert all(len(c.token_ids) == 6 for c in outs[0].outputs)

    stop_id = g["greedy_token_ids"][1]
    [o] = llm.generate({"prompt_token_ids": g["prompt_token_ids"]},
                       SamplingParams(temperature=0, max_tokens=24, stop_token_ids=[stop_id]), use_tqdm=False)
    c = o.outputs[0]
    assert c.finish_reason == "stop" and c.stop_reason == stop_id
    assert c.token_ids[:2] == g["greedy_token_ids"][:2] and len(c.token_ids) <= 2

    r = repr(o)
    assert r.startswith(f"RequestOutput(request_id={o.request_id}, prompt=None, prompt_token_ids=[2, ")
    assert "CompletionOutput(index=0, text=" in r and "finish_reason=stop" in r and f"stop_reason={stop_id}" in r


def test_tokenizer_and_model_access(llm, tiny_opt):
    tok = llm.get_tokenizer()
    assert tok.encode("Hello, my name is") == [2, 31414, 6, 127, 766, 16]
    assert tok.encode("Hello, my name is", add_special_tokens=False) == [31414, 6, 127, 766, 16]
    assert tok.decode([2, 31414, 6, 127, 766, 16]) == "Hello, my name is"
    assert tok.decode([2, 31414], skip_special_tokens=False) == "</s>Hello"
    assert tok.eos_token_id == 2
    with pytest.raises(ValueError, match="token_ids"):
        tok.decode([10**6])

    model = llm.model
    assert llm.llm_engine.model_executor.driver_worker.worker.model_runner.model is model
    params = dict(model.named_parameters())
    assert model.num_parameters() == sum(p.numel() for p in params.values())
    # Independent reference: the shapes recorded in the checkpoint's safetensors header.
    with open(tiny_opt / "model.safetensors", "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    for name in ("model.decoder.layers.0.fc1.weight", "model.decoder.layers.1.fc2.weight"):
        [ours] = [info for n, info in params.items() if n.endswith(name.split("model.", 1)[1])]
        assert list(ours.shape) == header[name]["shape"]
        assert ours.numel() == math.prod(header[name]["shape"])
    assert model.architecture == "OPTForCausalLM"


def test_prompt_longer_than_max_model_len_is_a_value_error(tiny_opt):
    short = LLM(str(tiny_opt), max_model_len=8)
    with pytest.raises(ValueError, match="maximum model length"):
        short.generate(["hi", {"prompt_token_ids": list(range(3, 23))}], use_tqdm=False)
    # The engine is still usable, and the first prompt was not left queued.
    [o] = short.generate("hi", SamplingParams(max_tokens=2), use_tqdm=False)
    assert len(o.outputs[0].token_ids) == 2


@pytest.mark.parametrize(
    "prompts, params, error, match",
    [
        (5, None, TypeError, "prompts"),
        (["ok", 5], None, TypeError, r"prompts\[1\]"),
        ([{"text": "x"}], None, ValueError, "text"),
        ([{}], None, ValueError, "prompt_token_ids"),
        ([{"prompt_token_ids": ["a"]}], None, TypeError, "prompt_token_ids"),
        ([{"prompt_token_ids": [10**7]}], None, ValueError, "out of range"),
        (["a", "b"], [SamplingParams()], ValueError, "lengths"),
        (["a"], [{"temperature": 0}], TypeError, "sampling_params"),
        (["a"], "greedy", TypeError, "sampling_params"),
    ],
)
def test_bad_generate_arguments(llm, prompts, params, error, match):
    with pytest.raises(error, match=match):
        llm.generate(prompts, params, use_tqdm=False)


def test_values_assigned_after_construction_are_validated_at_generate(llm):
    sp = SamplingParams()
    sp.top_p = 2.0
    with pytest.raises(ValueError, match="top_p"):
        llm.generate("a", sp, use_tqdm=False)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"foo": 1}, ValueError, "keyword argument .foo. is not supported"),
        ({"tensor_parallel_size": "2"}, TypeError, "tensor_parallel_size"),
        ({"block_size": 0}, ValueError, "block_size"),
        ({"max_num_seqs": 0}, ValueError, "max_num_seqs"),
        ({"gpu_memory_utilization": 2}, ValueError, "gpu_memory_utilization"),
        ({"max_model_len": -1}, ValueError, "max_model_len"),
        ({"dtype": "int8"}, ValueError, "dtype"),
        ({"dtype": 16}, TypeError, "dtype"),
        ({"device": "tpu"}, ValueError, "device"),
        ({"distributed_executor_backend": "ray"}, ValueError, "distributed_executor_backend"),
        ({"pipeline_parallel_size": 2}, ValueError, "pipeline_parallel_size"),
        ({"kv_cache_memory_bytes": 0}, ValueError, "kv_cache_memory_bytes"),
        ({"max_model_len": 10**6}, ValueError, "max_model_len"),
        ({"enable_prefix_caching": "yes"}, TypeError, "enable_prefix_caching"),
        ({"enforce_eager": 1}, TypeError, "enforce_eager"),
    ],
)
def test_bad_llm_arguments(tiny_opt, kwargs, error, match):
    with pytest.raises(error, match=match):
        LLM(str(tiny_opt), **kwargs)


def test_vllm_keywords_without_effect_are_accepted(tiny_opt):
    LLM(str(tiny_opt), trust_remote_code=False, pipeline_parallel_size=1, max_model_len=64)


def test_enforce_eager_gives_the_same_tokens(tiny_opt):
    # On the CPU there are no CUDA graphs, so the flag must change nothing; on a GPU it turns graphs off
    # (float32 there, so graphs and eager steps agree far below any top-2 margin).
    prompts = [{"prompt_token_ids": [2, 100 + i, 7]} for i in range(3)]
    params = SamplingParams(temperature=0.0, max_tokens=6, ignore_eos=True)
    outs = [
        LLM(str(tiny_opt), max_model_len=64, dtype="float32", enforce_eager=eager).generate(prompts, params, use_tqdm=False)
        for eager in (False, True)
    ]
    assert [o.outputs[0].token_ids for o in outs[0]] == [o.outputs[0].token_ids for o in outs[1]]


def test_engine_errors_are_exceptions(tmp_path, tiny_opt):
    broken = tmp_path / "broken-opt"
    broken.mkdir()
    for f in tiny_opt.iterdir():
        if f.name != "config.json":
            (broken / f.name).symlink_to(f)
    (broken / "config.json").write_text('{"model_type": "opt", "hidden_size": ')
    with pytest.raises(RuntimeError, match="config.json") as info:
        LLM(str(broken))
    assert isinstance(info.value, shardlm.EngineError)

    (broken / "config.json").write_text('{"model_type": "opt", "architectures": ["OPTForCausalLM"]}')
    with pytest.raises(RuntimeError):
        LLM(str(broken))
    with pytest.raises(RuntimeError, match="no-such-model"):
        LLM(str(tmp_path / "no-such-model"))


def test_text_that_is_not_unicode_is_a_value_error(llm):
    with pytest.raises(ValueError, match=r"prompts\[0\]"):
        llm.generate(["a\udc80b"], use_tqdm=False)
    with pytest.raises(ValueError, match="stop"):
        SamplingParams(stop="\ud800")


def test_a_request_larger_than_the_kv_cache_is_refused_and_the_engine_goes_on(tiny_opt):
    # Two KV blocks (tiny-opt: 2 layers x K,V x 16 tokens x 64 x 4 bytes each) hold 32 tokens, too few for
    # 100 new tokens: the engine refuses the request before running anything, naming the KV cache.
    small = LLM(str(tiny_opt), kv_cache_memory_bytes=2 * 16384)
    with pytest.raises(ValueError, match="KV-cache blocks"):
        small.generate(["Hello", "World"], SamplingParams(temperature=0, max_tokens=100, ignore_eos=True), use_tqdm=False)
    [o] = small.generate("Hello", SamplingParams(temperature=0, max_tokens=3), use_tqdm=False)
    assert len(o.outputs[0].token_ids) == 3


def test_use_tqdm_accepts_a_progress_bar_factory(llm):
    events = []

    class Bar:
        def __init__(self, **kwargs):
            events.append(("init", kwargs["total"], kwargs["desc"]))
            self.postfix = None

        def update(self, n):
            events.append(("update", n))

        def close(self):
            events.append(("close",))

    llm.generate(["a", "b", "c"], [SamplingParams(max_tokens=k) for k in (1, 4, 8)], use_tqdm=Bar)
    assert events[0] == ("init", 3, "Processed prompts") and events[-1] == ("close",)
    assert sum(e[1] for e in events if e[0] == "update") == 3


def test_logprobs_are_capped_by_max_logprobs_as_in_vllm(tiny_opt):
    llm = LLM(str(tiny_opt), dtype="float32", max_logprobs=5)
    with pytest.raises(ValueError, match=r"greater than max allowed: 5"):
        llm.generate(["Hi"], SamplingParams(max_tokens=2, logprobs=6), use_tqdm=False)
    out = llm.generate(["Hi"], SamplingParams(temperature=0, max_tokens=2, logprobs=5), use_tqdm=False)[0]
    assert [len(lp) for lp in out.outputs[0].logprobs] == [5, 5]
    with pytest.raises(ValueError, match="whole vocabulary"):
        llm.generate(["Hi"], SamplingParams(max_tokens=1, logprobs=-1), use_tqdm=False)


def test_generation_config_defaults(tiny_opt, tmp_path):
    # vLLM's generation_config="auto": the model's generation_config.json gives get_default_sampling_params()
    # and what generate() uses without sampling_params; "vllm" ignores it.
    folder = tmp_path / "model"
    shutil.copytree(tiny_opt, folder)
    (folder / "generation_config.json").write_text(json.dumps({"temperature": 0.5, "top_p": 0.8, "max_new_tokens": 5}))
    llm = LLM(str(folder), dtype="float32", device="cpu")
    d = llm.get_default_sampling_params()
    assert (d.temperature, d.top_p, d.max_tokens, d.top_k) == (0.5, pytest.approx(0.8), 5, 0)
    assert len(llm.generate("Hello", use_tqdm=False)[0].outputs[0].token_ids) == 5
    neutral = LLM(str(folder), dtype="float32", device="cpu", generation_config="vllm").get_default_sampling_params()
    assert (neutral.temperature, neutral.max_tokens) == (1.0, 16)
    with pytest.raises(ValueError, match="generation_config"):
        LLM(str(folder), device="cpu", generation_config=str(tmp_path / "nowhere"))
