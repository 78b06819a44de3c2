"""shardlm inside a PyTorch program (the reason for the external-launcher mode): parameters as torch tensors that
share the engine's memory, load_weights with full Hugging Face tensors checked against a fresh engine built from
the saved weights, collective_rpc / apply_model, reset_prefix_cache, sleep / wake_up, torch process groups, and
importing shardlm and torch in either order. Multi-rank runs under real torchrun are in test_torchrun.py."""

import copy
import json
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is installed by scripts/setup.sh; these tests need it")
transformers = pytest.importorskip("transformers", reason="transformers is installed by scripts/setup.sh")
import torch.distributed as dist  # noqa: E402

from shardlm import LLM, SamplingParams  # noqa: E402
from shardlm.distributed.parallel_state import get_dp_group, get_tp_group, get_world_group  # noqa: E402
from conftest import subprocess_env  # noqa: E402

GREEDY = SamplingParams(temperature=0, max_tokens=12, ignore_eos=True, logprobs=1)
PROMPTS = ["Hello, my name is", "The capital of France is"]


def _run(llm):
    outs = llm.generate(PROMPTS, GREEDY, use_tqdm=False)
    return [(o.outputs[0].token_ids, [lp[t].logprob for t, lp in zip(o.outputs[0].token_ids, o.outputs[0].logprobs)])
            for o in outs]


def _assert_same(a, b, tol=1e-4):
    for (ta, la), (tb, lb) in zip(a, b):
        assert ta == tb
        assert max(abs(x - y) for x, y in zip(la, lb)) <= tol


@pytest.fixture(scope="module")
def f32_llm(tiny_opt):
    return LLM(str(tiny_opt), dtype="float32", seed=0)


@pytest.fixture(scope="module")
def hf_model(tiny_opt):
    return transformers.AutoModelForCausalLM.from_pretrained(str(tiny_opt), dtype=torch.float32)


def test_parameters_are_torch_tensors_sharing_the_engine_memory(f32_llm, tiny_opt):
    model = f32_llm.llm_engine.model_executor.driver_worker.worker.model_runner.model
    assert model is f32_llm.model
    params = dict(model.named_parameters())
    assert all(isinstance(p, torch.Tensor) for p in params.values())
    assert list(model.state_dict()) == list(params)
    assert len(list(model.parameters())) == len(params)
    assert model.num_parameters() == sum(p.numel() for p in params.values())
    # Shapes as the checkpoint's safetensors header says (independent of the engine).
    with open(tiny_opt / "model.safetensors", "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    fc1 = params["model.decoder.layers.0.fc1.weight"]
    assert list(fc1.shape) == header["model.decoder.layers.0.fc1.weight"]["shape"]
    assert fc1.dtype == torch.float32 and fc1.device.type == "cpu"
    # vLLM's fused name for q/k/v, its rows the three projections stacked.
    assert params["model.decoder.layers.0.self_attn.qkv_proj.weight"].shape == (3 * 64, 64)

    before = _run(f32_llm)
    norm = params["model.decoder.final_layer_norm.weight"]
    saved = norm.clone()
    with torch.no_grad():
        norm.mul_(-3.0)  # written through the view: the engine must compute with it
    changed = _run(f32_llm)
    with torch.no_grad():
        norm.copy_(saved)
    assert f32_llm.reset_prefix_cache()
    assert changed != before
    _assert_same(_run(f32_llm), before, tol=0)


def _perturbed_state(hf_model, scale):
    gen = torch.Generator().manual_seed(1234)
    return {n: p.detach() + scale * torch.randn(p.shape, generator=gen) for n, p in hf_model.named_parameters()}


def test_load_weights_equals_a_fresh_engine_on_the_saved_weights(tiny_opt, hf_model, tmp_path):
    llm = LLM(str(tiny_opt), dtype="float32", seed=0)
    new = _perturbed_state(hf_model, 0.05)
    loaded = llm.model.load_weights((n, t.to(torch.float16)) for n, t in new.items())  # any dtype is converted
    assert loaded == set(new)
    # The reference: transformers saves the same weights, a fresh engine loads them.
    trained = copy.deepcopy(hf_model)
    with torch.no_grad():
        for n, p in trained.named_parameters():
            p.copy_(new[n].to(torch.float16).float())
    trained.save_pretrained(tmp_path)
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_opt / name).exists():
            (tmp_path / name).write_bytes((tiny_opt / name).read_bytes())
    fresh = LLM(str(tmp_path), dtype="float32", seed=0)
    _assert_same(_run(llm), _run(fresh))
    original = LLM(str(tiny_opt), dtype="float32", seed=0)
    assert _run(llm) != _run(original)


def test_load_weights_partial_fused_and_errors(tiny_opt, hf_model):
    llm = LLM(str(tiny_opt), dtype="float32", seed=0)
    params = dict(llm.model.named_parameters())
    qkv = params["model.decoder.layers.1.self_attn.qkv_proj.weight"]
    before = qkv.clone()
    k_new = torch.full((64, 64), 0.25)
    assert llm.model.load_weights([("model.decoder.layers.1.self_attn.k_proj.weight", k_new)]) == {
        "model.decoder.layers.1.self_attn.k_proj.weight"}
    assert torch.equal(qkv[64:128], k_new)  # only the k rows of the fused matrix changed
    assert torch.equal(qkv[:64], before[:64]) and torch.equal(qkv[128:], before[128:])
    # The `decoder.*` spelling of facebook/opt-125m's pytorch_model.bin, and a tied head that is skipped.
    assert llm.model.load_weights([("decoder.final_layer_norm.bias", torch.zeros(64)),
                                   ("lm_head.weight", torch.zeros(50272, 64))]) == {
        "decoder.final_layer_norm.bias", "lm_head.weight"}
    assert torch.count_nonzero(params["model.decoder.final_layer_norm.bias"]) == 0
    snapshot = {n: p.clone() for n, p in params.items()}
    with pytest.raises(ValueError, match="does not have.*model.decoder.layers.9.fc1.weight"):
        llm.model.load_weights([("model.decoder.final_layer_norm.weight", torch.ones(64)),
                                ("model.decoder.layers.9.fc1.weight", torch.ones(256, 64))])
    with pytest.raises(ValueError, match=r"wrong shape.*fc2.weight: shape \[64, 64\]"):
        llm.model.load_weights([("model.decoder.layers.0.fc2.weight", torch.ones(64, 64))])
    with pytest.raises(TypeError, match="pairs"):
        llm.model.load_weights([("model.decoder.final_layer_norm.weight", [1.0] * 64)])
    assert all(torch.equal(p, snapshot[n]) for n, p in params.items())  # nothing changed


def test_collective_rpc_apply_model_and_reload_weights(tiny_opt):
    llm = LLM(str(tiny_opt), dtype="float32", seed=0)
    worker = llm.llm_engine.model_executor.driver_worker.worker
    assert llm.collective_rpc("get_model") == [llm.model]
    assert llm.collective_rpc(lambda w, k: (w is worker, k), args=(7,)) == [(True, 7)]
    assert llm.collective_rpc(lambda w, k=0: k, kwargs={"k": 3}) == [3]
    assert llm.apply_model(lambda m: m.architecture) == ["OPTForCausalLM"]
    with pytest.raises(AttributeError, match="no method 'nope'"):
        llm.collective_rpc("nope")
    before = _run(llm)
    with torch.no_grad():
        for p in llm.model.parameters():
            p.zero_()
    assert llm.collective_rpc("reload_weights") == [None]  # from the checkpoint on disk, in place
    _assert_same(_run(llm), before, tol=0)


def test_reset_prefix_cache(tiny_opt):
    llm = LLM(str(tiny_opt), dtype="float32", seed=0)
    long_prompt = {"prompt_token_ids": list(range(100, 164))}
    llm.generate([long_prompt], GREEDY, use_tqdm=False)
    hits = llm._engine.stats()["prefix_cache_hits_tokens"]
    llm.generate([long_prompt], GREEDY, use_tqdm=False)
    assert llm._engine.stats()["prefix_cache_hits_tokens"] > hits
    assert llm.reset_prefix_cache() is True
    hits = llm._engine.stats()["prefix_cache_hits_tokens"]
    llm.generate([long_prompt], GREEDY, use_tqdm=False)
    assert llm._engine.stats()["prefix_cache_hits_tokens"] == hits


def _rss_bytes():
    with open("/proc/self/statm") as f:
        import os
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_sleep_and_wake_up_return_memory_and_keep_outputs(tiny_opt, hf_model):
    llm = LLM(str(tiny_opt), dtype="float32", seed=0, enable_sleep_mode=True, kv_cache_memory_bytes=256 << 20)
    before = _run(llm)
    views = dict(llm.model.named_parameters())
    rss = _rss_bytes()
    llm.sleep(level=1)
    assert llm.is_sleeping()
    slept = _rss_bytes()
    with pytest.raises(RuntimeError, match="sleeping"):
        llm.generate(PROMPTS, GREEDY, use_tqdm=False)
    llm.wake_up()
    assert not llm.is_sleeping()
    _assert_same(_run(llm), before, tol=0)
    assert rss - slept > 64 << 20, (rss, slept)  # the touched part of the 256 MiB KV cache went back
    # Level 2 discards the weights too; load_weights after wake_up restores them in the same memory.
    llm.sleep(level=2)
    llm.wake_up(tags=["weights"])
    llm.wake_up(tags=["kv_cache"])
    assert llm.model.load_weights(hf_model.named_parameters())
    assert all(views[n].data_ptr() == p.data_ptr() for n, p in llm.model.named_parameters())
    _assert_same(_run(llm), before, tol=1e-5)
    plain = LLM(str(tiny_opt))
    with pytest.raises(RuntimeError, match="enable_sleep_mode"):
        plain.sleep()
    with pytest.raises(ValueError, match="level"):
        llm.sleep(level=3)
    with pytest.raises(ValueError, match="gpu"):
        llm.wake_up(tags=["gpu"])


def test_torch_groups_in_a_single_process(f32_llm):
    world = get_world_group()
    assert isinstance(world.cpu_group, dist.ProcessGroup) and isinstance(world.device_group, dist.ProcessGroup)
    assert dist.get_backend(world.cpu_group) == "gloo"
    assert dist.get_rank(group=world.cpu_group) == 0 and world.ranks == [0]
    assert get_tp_group().world_size == 1 and get_dp_group().world_size == 1
    box = [{"x": 1}]
    dist.broadcast_object_list(box, src=0, group=world.cpu_group)
    assert box == [{"x": 1}]
    t = torch.arange(4.0)
    dist.all_reduce(t, group=world.device_group)
    assert t.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert world.all_reduce(torch.ones(2)).tolist() == [1.0, 1.0]
    assert world.all_gather(torch.ones(2, 3), dim=0).shape == (2, 3)
    assert world.broadcast_object("hi") == "hi"
    cfg = f32_llm.llm_engine.vllm_config
    assert (cfg.parallel_config.data_parallel_rank, cfg.parallel_config.data_parallel_size) == (0, 1)
    assert cfg.cache_config.num_gpu_blocks > 0


@pytest.mark.parametrize("first,second", [("shardlm", "torch"), ("torch", "shardlm")])
def test_import_order(first, second, tiny_opt):
    script = (f"import {first}, {second}\nimport shardlm, torch\n"
              f"llm = shardlm.LLM({str(tiny_opt)!r}, gpu_memory_utilization=0.3)\n"
              "print(type(next(iter(llm.model.parameters()))).__name__, torch.ones(1).sum().item())\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env=subprocess_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-2:] == ["Tensor", "1.0"]
