"""shardlm.distributed: the groups of a single process, the error before any LLM exists, and two ranks
under shardlm-run (greedy tokens equal to the goldens on both ranks, collectives with known results)."""

import collections
import json
import subprocess
import textwrap

import numpy as np
import pytest

from shardlm.distributed import get_tp_group, get_world_group
from conftest import BUILD, PYTHON, REPO, comparable_prefix, require_binary, subprocess_env


def test_groups_before_any_llm_are_a_clear_error():
    script = "import shardlm.distributed as d\ntry:\n    d.get_world_group()\nexcept RuntimeError as e:\n    print(e)\n"
    proc = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, timeout=60, env=subprocess_env())
    assert proc.returncode == 0, proc.stderr
    assert "no process group yet" in proc.stdout and "shardlm.LLM" in proc.stdout


def test_single_process_groups(llm):
    world = get_world_group()
    assert (world.rank, world.world_size, world.ranks) == (0, 1, [0])
    assert get_tp_group().world_size == 1
    cpu, dev = world.cpu_group, world.device_group
    assert (cpu.rank(), cpu.size(), dev.rank(), dev.size()) == (0, 1, 0, 1)
    cpu.barrier()
    assert cpu.broadcast_object({"a": [1, 2]}, src=0) == {"a": [1, 2]}
    assert cpu.all_gather_object(("x", 3)) == [("x", 3)]
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    r = dev.all_reduce(a)
    assert r is a and np.array_equal(r, np.arange(6).reshape(2, 3))
    r = dev.all_reduce([1, 2.5])  # not an ndarray: a new float32 array
    assert r.dtype == np.float32 and r.tolist() == [1.0, 2.5]
    g = dev.all_gather(np.ones((2, 2), dtype=np.float64))
    assert g.shape == (1, 2, 2) and g.dtype == np.float32
    assert dev.broadcast(np.array([4.0], dtype=np.float32), src=0).tolist() == [4.0]
    with pytest.raises(ValueError, match="src"):
        dev.broadcast(np.zeros(1, np.float32), src=1)
    with pytest.raises(TypeError, match="all_reduce"):
        dev.all_reduce("not numbers")


TP_WORKER = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    from shardlm import LLM, SamplingParams
    from shardlm.distributed import get_world_group, get_tp_group
    model, golden_path, out_dir = sys.argv[1:4]
    llm = LLM(model, tensor_parallel_size=2, distributed_executor_backend="external_launcher")
    golden = json.load(open(golden_path))["prompts"]
    outs = llm.generate([{"prompt_token_ids": g["prompt_token_ids"]} for g in golden],
                        SamplingParams(temperature=0, max_tokens=24, ignore_eos=True), use_tqdm=False)
    world = get_world_group()
    rank = world.rank
    dev, cpu = world.device_group, world.cpu_group
    result = {
        "rank": rank,
        "world_size": world.world_size,
        "tp_size": get_tp_group().world_size,
        "token_ids": [o.outputs[0].token_ids for o in outs],
        "texts": [o.outputs[0].text for o in outs],
        "all_reduce": dev.all_reduce(np.array([rank + 1.0, 10.0 * rank], dtype=np.float32)).tolist(),
        "all_gather": dev.all_gather(np.full((2,), rank, dtype=np.float32)).tolist(),
        "broadcast": dev.broadcast(np.array([7.0 if rank == 1 else -1.0], dtype=np.float32), src=1).tolist(),
        "broadcast_object": cpu.broadcast_object({"from": rank} if rank == 1 else None, src=1),
        "all_gather_object": cpu.all_gather_object(f"rank{rank}"),
        "local_parameters": llm.model.num_parameters(),
        "fc1_shape": [list(i.shape) for n, i in llm.model.named_parameters() if n.endswith("layers.0.fc1.weight")],
    }
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(result, f)
    """
)


def _shardlm_run(args, **kwargs):
    launcher = require_binary("shardlm-run")
    # --standalone: a free port, so parallel test runs do not meet each other.
    return subprocess.run([str(launcher), "--standalone", "--nproc-per-node=2", *args],
                          capture_output=True, text=True, timeout=300, **kwargs)


def test_two_ranks_generate_the_golden_tokens_and_exchange_data(tiny_opt, golden, tmp_path, llm):
    worker = tmp_path / "tp_worker.py"
    worker.write_text(TP_WORKER)
    proc = _shardlm_run([PYTHON, str(worker), str(tiny_opt), str(tiny_opt / "golden.json"), str(tmp_path)],
                        env=subprocess_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert (r0["rank"], r1["rank"], r0["world_size"], r0["tp_size"]) == (0, 1, 2, 2)
    assert r0["token_ids"] == r1["token_ids"] and r0["texts"] == r1["texts"]
    for ids, g in zip(r0["token_ids"], golden):
        k = comparable_prefix(g)
        assert ids[:k] == g["greedy_token_ids"][:k]
    for r in (r0, r1):
        assert r["all_reduce"] == [3.0, 10.0]
        assert r["all_gather"] == [[0.0, 0.0], [1.0, 1.0]]
        assert r["broadcast"] == [7.0]
        assert r["broadcast_object"] == {"from": 1}
        assert r["all_gather_object"] == ["rank0", "rank1"]
        assert r["fc1_shape"] == [[128, 64]]  # fc1 [256, 64] is column-parallel: half the rows per rank
    # Each rank holds a shard: less than the whole model; together at least all of it (norms, biases and
    # positions are replicated; the vocabulary shards may differ by the padding rows).
    full = llm.model.num_parameters()
    assert r0["local_parameters"] < full and r1["local_parameters"] < full
    assert r0["local_parameters"] + r1["local_parameters"] >= full


def _generation_blocks(text):
    """[(prompt repr, generated repr)] from the example's 'Prompt: ...\\nGenerated text: ...' lines."""
    lines = text.splitlines()
    return [
        (lines[i][len("Prompt: "):], lines[i + 1][len("Generated text: "):])
        for i in range(len(lines) - 1)
        if lines[i].startswith("Prompt: ") and lines[i + 1].startswith("Generated text: ")
    ]


SEED_PROMPTS = ["'Hello, my name is'", "'The president of the United States is'", "'The capital of France is'",
                "'The future of AI is'"]


def test_seed_script_under_shardlm_run(tiny_opt, tmp_path):
    """The seed script as a user runs it: both ranks print the same four generations."""
    results = tmp_path / "results.jsonl"
    proc = _shardlm_run([PYTHON, str(REPO / "examples" / "torchrun_example.py"), "--results", str(results)],
                        env=subprocess_env(SHARDLM_MODEL=tiny_opt), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    blocks = _generation_blocks(proc.stdout)
    assert len(blocks) == 8, proc.stdout
    # Two ranks, the same four generations each (the ranks' outputs may come in either order).
    counts = collections.Counter(blocks)
    assert len(counts) == 4 and set(counts.values()) == {2}, proc.stdout
    assert sorted(p for p, _ in counts) == sorted(SEED_PROMPTS)
    for r in (0, 1):
        found = [l[l.index(f"rank {r}/2:"):] for l in proc.stdout.splitlines() if f"rank {r}/2:" in l]
        assert found, proc.stdout + proc.stderr
        line = found[0]
        assert "same outputs on all ranks: True" in line and "sum of (rank+1) = 3" in line
        assert f"control message 'rank 0 saves the results to {results}'" in line
    saved = [json.loads(l) for l in results.read_text().splitlines()]
    assert [repr(s["prompt"]) for s in saved] == SEED_PROMPTS
    assert {(repr(s["prompt"]), repr(s["text"])) for s in saved} == set(blocks)


def test_seed_script_ranks_print_identical_output(tiny_opt, tmp_path):
    """Each rank's stdout in its own file (the example unchanged): the generations are identical."""
    example = REPO / "examples" / "torchrun_example.py"
    cmd = f'exec "{PYTHON}" "{example}" --results "{tmp_path}/r.jsonl" > "{tmp_path}/out.$RANK.txt"'
    proc = _shardlm_run(["/bin/sh", "-c", cmd], env=subprocess_env(SHARDLM_MODEL=tiny_opt), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out0, out1 = ((tmp_path / f"out.{r}.txt").read_text() for r in (0, 1))
    b0, b1 = _generation_blocks(out0), _generation_blocks(out1)
    assert [p for p, _ in b0] == SEED_PROMPTS
    assert b0 == b1
    assert all(len(text) > 2 for _, text in b0)  # something was generated
    assert out0.splitlines()[0] == "-" * 50
