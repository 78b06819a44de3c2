"""Under real torchrun (PyTorch's launcher) and shardlm-run, with torch in every rank: vLLM's seed script with its
tips, a program that initialised torch.distributed itself before LLM(...) (vLLM's test_torchrun_example), data
parallelism (2 replicas of TP=2), and the RLHF co-location example compared with a fresh engine."""

import collections
import json
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is installed by scripts/setup.sh; these tests need it")
from conftest import REPO, require_binary, subprocess_env  # noqa: E402

PYTHON = sys.executable


def _torchrun(nproc, args, **kwargs):
    cmd = [PYTHON, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)


def _blocks(text):
    lines = text.splitlines()
    return [(lines[i][len("Prompt: "):], lines[i + 1][len("Generated text: "):]) for i in range(len(lines) - 1)
            if lines[i].startswith("Prompt: ") and lines[i + 1].startswith("Generated text: ")]


@pytest.mark.parametrize("launcher", ["torchrun", "shardlm-run", "shardlm-run with a store secret"])
def test_seed_script_with_its_tips(tiny_opt, tmp_path, launcher):
    example = str(REPO / "examples" / "torchrun_example.py")
    results = tmp_path / "results.jsonl"
    args = [example, "--device", "cpu", "--results", str(results)]
    env = subprocess_env(SHARDLM_MODEL=tiny_opt)
    if launcher.endswith("secret"):  # torch.distributed joins shardlm-run's store by presenting the secret too
        env["SHARDLM_STORE_SECRET"] = "seed-secret"
    if launcher == "torchrun":
        proc = _torchrun(2, args, env=env, cwd=tmp_path)
    else:
        proc = subprocess.run([str(require_binary("shardlm-run")), "--standalone", "--nproc-per-node=2", PYTHON, *args],
                              capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = collections.Counter(_blocks(proc.stdout))
    assert len(counts) == 4 and set(counts.values()) == {2}, proc.stdout  # both ranks, the same four
    for r in (0, 1):
        # The ranks share one stdout pipe: a line may start with the other rank's unfinished output.
        [line] = [l[l.index(f"rank {r}/2:"):] for l in proc.stdout.splitlines() if f"rank {r}/2:" in l]
        assert "same outputs on all ranks: True" in line and "device-group (gloo) sum of (rank+1) = 3" in line
        assert f"control message 'rank 0 saves the results to {results}'" in line
    saved = [json.loads(l) for l in results.read_text().splitlines()]
    assert {(repr(s["prompt"]), repr(s["text"])) for s in saved} == set(counts)


# vLLM's tests/distributed/test_torchrun_example.py, as a shardlm user would run it: torch.distributed is
# initialised by the program first; the ranks check they agree through the cpu group.
VLLM_TEST = textwrap.dedent(
    """
    import os, random, sys
    import torch.distributed as dist
    from shardlm import LLM, SamplingParams
    from shardlm.distributed.parallel_state import get_world_group

    dist.init_process_group(backend="gloo")
    prompts = ["Hello, my name is", "The president of the United States is", "The capital of France is",
               "The future of AI is"]
    sampling_params = SamplingParams(temperature=0.8, top_p=0.95)
    llm = LLM(model=sys.argv[1], tensor_parallel_size=2, pipeline_parallel_size=int(os.getenv("PP_SIZE", 1)),
              distributed_executor_backend="external_launcher", gpu_memory_utilization=random.uniform(0.7, 0.9),
              swap_space=random.randint(1, 4), seed=0)
    outputs = llm.generate(prompts, sampling_params)
    cpu_group = get_world_group().cpu_group
    torch_rank = dist.get_rank(group=cpu_group)

    def test_consistent_across_ranks(obj):
        if torch_rank == 0:
            dist.broadcast_object_list([obj], src=0, group=cpu_group)
        else:
            container = [None]
            dist.broadcast_object_list(container, src=0, group=cpu_group)
            assert container[0] == obj

    test_consistent_across_ranks(llm.llm_engine.vllm_config.cache_config.num_cpu_blocks)
    test_consistent_across_ranks(llm.llm_engine.vllm_config.cache_config.num_gpu_blocks)
    params = list(llm.llm_engine.model_executor.driver_worker.worker.model_runner.model.parameters())
    test_consistent_across_ranks(len(params))
    for output in outputs:
        prompt = output.prompt
        generated_text = output.outputs[0].text
        test_consistent_across_ranks(prompt)
        test_consistent_across_ranks(generated_text)
        print(f"Rank {torch_rank}, Prompt: {prompt!r}, Generated text: {generated_text!r}")
        # Not in vLLM's test: the ranks share one stdout pipe, where their lines can interleave.
        with open(f"rank{torch_rank}.txt", "a") as f:
            f.write(f"Prompt: {prompt!r}, Generated text: {generated_text!r}\\n")
    """
)


def test_vllm_torchrun_test_with_torch_initialised_first(tiny_opt, tmp_path):
    script = tmp_path / "test_torchrun_example.py"
    script.write_text(VLLM_TEST)
    proc = _torchrun(2, [str(script), str(tiny_opt)], env=subprocess_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    by_rank = [(tmp_path / f"rank{r}.txt").read_text().splitlines() for r in (0, 1)]
    assert len(by_rank[0]) == 4 and by_rank[0] == by_rank[1], by_rank


DP_WORKER = textwrap.dedent(
    """
    import json, os, sys
    import torch.distributed as dist
    from shardlm import LLM, SamplingParams
    from shardlm.distributed.parallel_state import get_dp_group, get_tp_group, get_world_group

    model, out_dir, form = sys.argv[1:4]
    rank = int(os.environ["RANK"])
    kwargs = {"data_parallel_size": 2} if form == "explicit" else {}  # "external": implied by the world size
    llm = LLM(model=model, tensor_parallel_size=2, distributed_executor_backend="external_launcher",
              seed=100 + rank // 2, **kwargs)
    pc = llm.llm_engine.vllm_config.parallel_config
    dp_rank, dp_size = pc.data_parallel_rank, pc.data_parallel_size
    prompts = ["Hello, my name is", "The president of the United States is", "The capital of France is",
               "The future of AI is"]
    mine = [p for i, p in enumerate(prompts) if i % dp_size == dp_rank]
    sampled = llm.generate(mine, SamplingParams(temperature=1.0, max_tokens=8, seed=None), use_tqdm=False)
    greedy = llm.generate(prompts, SamplingParams(temperature=0, max_tokens=8, ignore_eos=True), use_tqdm=False)
    tp, dp = get_tp_group(), get_dp_group()
    result = {"rank": rank, "dp_rank": dp_rank, "dp_size": dp_size, "tp_ranks": tp.ranks, "dp_ranks": dp.ranks,
              "tp_torch_rank": dist.get_rank(group=tp.cpu_group), "dp_gather": dp.all_gather_object(rank),
              "prompts": mine, "sampled": [o.outputs[0].token_ids for o in sampled],
              "greedy": [o.outputs[0].token_ids for o in greedy]}
    json.dump(result, open(os.path.join(out_dir, f"rank{rank}.json"), "w"))
    """
)


@pytest.mark.parametrize("form", ["explicit", "external"])
def test_data_parallel_two_replicas_of_tp2(tiny_opt, tmp_path, form):
    script = tmp_path / "dp_worker.py"
    script.write_text(DP_WORKER)
    proc = _torchrun(4, [str(script), str(tiny_opt), str(tmp_path), form], env=subprocess_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = [json.loads((tmp_path / f"rank{i}.json").read_text()) for i in range(4)]
    assert [x["dp_rank"] for x in r] == [0, 0, 1, 1] and all(x["dp_size"] == 2 for x in r)
    assert [x["tp_ranks"] for x in r] == [[0, 1], [0, 1], [2, 3], [2, 3]]
    assert [x["dp_ranks"] for x in r] == [[0, 2], [1, 3], [0, 2], [1, 3]]
    assert [x["tp_torch_rank"] for x in r] == [0, 1, 0, 1]
    assert [x["dp_gather"] for x in r] == [[0, 2], [1, 3], [0, 2], [1, 3]]
    # Within a replica the ranks agree; each replica ran its own prompts with its own seed.
    assert r[0]["sampled"] == r[1]["sampled"] and r[2]["sampled"] == r[3]["sampled"]
    assert r[0]["prompts"] != r[2]["prompts"]
    # Greedy outputs of both replicas (TP=2 each) are equal.
    assert r[0]["greedy"] == r[2]["greedy"]


@pytest.mark.parametrize("model,sleep_level", [("tiny-opt", 1), ("tiny-llama", 2)])
def test_rlhf_colocate_example_equals_a_fresh_engine(tiny_opt, tmp_path, model, sleep_level):
    """Two training steps at TP=2, each followed by load_weights (OPT: fused QKV, tied head; Llama: GQA, gate/up,
    untied head), the engine asleep while the trainer runs; then a fresh engine on the saved weights."""
    pytest.importorskip("transformers")
    report = tmp_path / "report.json"
    proc = _torchrun(2, [str(REPO / "examples" / "rlhf_colocate.py"), "--model", str(tiny_opt.parent / model),
                         "--steps", "2", "--sleep-level", str(sleep_level), "--check", "--report", str(report)],
                     env=subprocess_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(report.read_text())
    assert summary["tokens_equal"] is True and summary["max_logprob_diff"] <= 1e-4
    assert len(summary["sync_seconds"]) == 2
    assert "weight sync" in proc.stdout


def test_data_parallel_example(tiny_opt, tmp_path):
    """examples/torchrun_dp_example.py (vLLM's DP example, import changed): 2 replicas of TP=2, each replica's
    two ranks print the same generations for its own 20 prompts."""
    proc = _torchrun(4, [str(REPO / "examples" / "torchrun_dp_example.py"), "--model", str(tiny_opt), "--tp-size=2",
                         "--dp-size=2", "--device", "cpu"], env=subprocess_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [l for l in proc.stdout.splitlines() if "DP Rank: " in l]
    prompts = collections.Counter(l[l.index("DP Rank: "):] for l in lines)
    assert len(prompts) == 40 and set(prompts.values()) == {2}  # every prompt once per replica, on 2 ranks
    for text, _ in prompts.items():
        dp_rank, idx = int(text.split()[2]), int(text.split("'")[1].split(".")[0])
        assert idx % 2 == dp_rank
