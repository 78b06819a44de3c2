"""The co-location features on a GPU (run on the GPU machine by scripts/gpu/colocation.sh; skipped without
one): parameters as CUDA tensors sharing the engine's memory, load_weights from CUDA tensors against a fresh
engine, sleep / wake_up returning GPU memory to the driver (torch.cuda.mem_get_info) with outputs unchanged,
and torch's NCCL next to the engine's."""

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is installed by scripts/setup.sh; these tests need it")
if not torch.cuda.is_available():
    pytest.skip("no GPU on this machine: CUDA co-location tests run on the GPU machine", allow_module_level=True)
transformers = pytest.importorskip("transformers")

from shardlm import LLM, SamplingParams  # noqa: E402

GREEDY = SamplingParams(temperature=0, max_tokens=16, ignore_eos=True, logprobs=1)
PROMPTS = ["Hello, my name is", "The capital of France is", "The future of AI is"]


def _run(llm):
    outs = llm.generate(PROMPTS, GREEDY, use_tqdm=False)
    return [(o.outputs[0].token_ids, [lp[t].logprob for t, lp in zip(o.outputs[0].token_ids, o.outputs[0].logprobs)])
            for o in outs]


def _close(a, b, tol):
    return all(ta == tb and max(abs(x - y) for x, y in zip(la, lb)) <= tol for (ta, la), (tb, lb) in zip(a, b))


def test_parameters_are_cuda_tensors_and_load_weights_from_cuda(tiny_opt, tmp_path):
    # Two engines and a transformers model share the GPU: each engine takes a third (vLLM's 0.9 default twice
    # would not fit).
    llm = LLM(str(tiny_opt), device="cuda", dtype="float32", seed=0, enforce_eager=False, gpu_memory_utilization=0.3)
    params = dict(llm.model.named_parameters())
    p = params["model.decoder.layers.0.fc1.weight"]
    assert p.is_cuda and p.dtype == torch.float32 and p.device.index == torch.cuda.current_device()
    hf = transformers.AutoModelForCausalLM.from_pretrained(str(tiny_opt), dtype=torch.float32).cuda()
    gen = torch.Generator(device="cuda").manual_seed(7)
    with torch.no_grad():
        for _, q in hf.named_parameters():
            q.add_(0.05 * torch.randn(q.shape, generator=gen, device="cuda"))
    before_graphs = _run(llm)
    llm.model.load_weights(hf.named_parameters())  # CUDA source tensors
    updated = _run(llm)
    assert updated != before_graphs
    hf.save_pretrained(tmp_path)
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_opt / name).exists():
            (tmp_path / name).write_bytes((tiny_opt / name).read_bytes())
    fresh = LLM(str(tmp_path), device="cuda", dtype="float32", seed=0, gpu_memory_utilization=0.3)
    assert _close(updated, _run(fresh), 1e-3)


def test_sleep_returns_gpu_memory_and_wake_up_restores_outputs(tiny_opt):
    llm = LLM(str(tiny_opt), device="cuda", dtype="bfloat16", seed=0, enable_sleep_mode=True,
              gpu_memory_utilization=0.5)
    before = _run(llm)
    views = {n: t.data_ptr() for n, t in llm.model.named_parameters()}
    torch.cuda.synchronize()
    free_awake, total = torch.cuda.mem_get_info()
    llm.sleep(level=1)
    free_asleep, _ = torch.cuda.mem_get_info()
    kv_blocks = llm.llm_engine.vllm_config.cache_config.num_gpu_blocks
    print(f"sleep level 1: free GPU memory {free_awake / 2**30:.2f} -> {free_asleep / 2**30:.2f} GiB "
          f"of {total / 2**30:.2f} ({kv_blocks} KV blocks)")
    assert free_asleep - free_awake > 0.3 * total  # most of the KV cache (half the card) went back
    llm.wake_up()
    free_woken, _ = torch.cuda.mem_get_info()
    print(f"after wake_up: free {free_woken / 2**30:.2f} GiB")
    assert _run(llm) == before  # CUDA graphs captured before sleeping replay on the same addresses
    assert {n: t.data_ptr() for n, t in llm.model.named_parameters()} == views
    llm.sleep(level=2)
    llm.wake_up(["weights"])
    llm.collective_rpc("reload_weights")
    llm.wake_up(["kv_cache"])
    assert _run(llm) == before


def test_torch_nccl_next_to_the_engine(tiny_opt):
    import torch.distributed as dist
    from shardlm.distributed.parallel_state import get_world_group

    LLM(str(tiny_opt), device="cuda")
    group = get_world_group().device_group
    assert dist.get_backend(group) == "nccl"
    t = torch.ones(4, device="cuda")
    dist.all_reduce(t, group=group)
    assert t.tolist() == [1.0] * 4
