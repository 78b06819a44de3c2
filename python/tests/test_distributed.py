"""shardlm.distributed without PyTorch (its NumPy groups): the groups of a single process, the error before any
LLM exists, and two ranks under shardlm-run (greedy tokens equal to the goldens on both ranks, collectives with
known results). The torch groups are tested in test_torch_colocation.py and test_torchrun.py."""

import json
import subprocess
import textwrap

import pytest

from conftest import PYTHON, comparable_prefix, require_binary, subprocess_env


def test_groups_before_any_llm_are_a_clear_error():
    script = "import shardlm.distributed as d\ntry:\n    d.get_world_group()\nexcept RuntimeError as e:\n    print(e)\n"
    proc = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, timeout=60, env=subprocess_env())
    assert proc.returncode == 0, proc.stderr
    assert "no process group yet" in proc.stdout and "shardlm.LLM" in proc.stdout


SINGLE_PROCESS_NUMPY = textwrap.dedent(
    """
    import sys
    import numpy as np
    import pytest
    import shardlm
    from shardlm.distributed import get_tp_group, get_world_group, get_dp_group
    llm = shardlm.LLM(sys.argv[1])
    world = get_world_group()
    assert (world.rank, world.world_size, world.ranks) == (0, 1, [0])
    assert get_tp_group().world_size == 1 and get_dp_group().world_size == 1
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
    assert world.broadcast_object([1]) == [1]
    # Without torch, the model describes its parameters instead of sharing them as tensors.
    name, info = next(iter(llm.model.named_parameters()))
    assert isinstance(info, shardlm.ParameterInfo) and info.numel == int(np.prod(info.shape))
    with pytest.raises(ImportError, match="PyTorch"):
        llm.model.load_weights([])
    print("ok")
    """
)


def without_torch(script_path, *args):
    """A command running a Python script in an interpreter where `import torch` fails, as in a program whose
    environment has no PyTorch."""
    runner = ("import runpy, sys; sys.modules['torch'] = None; sys.argv = sys.argv[1:]; "
              "runpy.run_path(sys.argv[0], run_name='__main__')")
    return [PYTHON, "-c", runner, str(script_path), *map(str, args)]


def test_single_process_numpy_groups_without_torch(tiny_opt, tmp_path):
    script = tmp_path / "single.py"
    script.write_text(SINGLE_PROCESS_NUMPY)
    proc = subprocess.run(without_torch(script, tiny_opt), capture_output=True, text=True, timeout=120,
                          env=subprocess_env())
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stdout + proc.stderr


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


def test_two_ranks_generate_the_golden_tokens_and_exchange_data_without_torch(tiny_opt, golden, tmp_path, llm):
    worker = tmp_path / "tp_worker.py"
    worker.write_text(TP_WORKER)
    proc = _shardlm_run(without_torch(worker, tiny_opt, tiny_opt / "golden.json", tmp_path), env=subprocess_env())
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


DISAGREE_WORKER = textwrap.dedent(
    """
    import os, sys
    from shardlm import LLM, SamplingParams
    rank = int(os.environ["RANK"])
    what = sys.argv[2]
    seed = rank if what == "engine seed" else 0
    llm = LLM(sys.argv[1], tensor_parallel_size=2, device="cpu", dtype="float32", seed=seed)
    prompts = ["Hello"] * (1 + rank if what == "prompt count" else 1)
    params = SamplingParams(temperature=0.5 + 0.1 * rank if what == "temperature" else 0.5, max_tokens=4)
    llm.generate(prompts, params, use_tqdm=False)
    print("generated")
    """
)


@pytest.mark.parametrize("what,field", [("engine seed", "seed (the engine's)"), ("prompt count", "the number of prompts"),
                                        ("temperature", "SamplingParams.temperature")])
def test_ranks_that_disagree_fail_together_naming_the_field(tiny_opt, tmp_path, what, field):
    # vLLM issue 15895: different inputs per rank gave garbled outputs with exit 0, or an abort in Gloo.
    worker = tmp_path / "disagree.py"
    worker.write_text(DISAGREE_WORKER)
    proc = _shardlm_run([PYTHON, str(worker), str(tiny_opt), what], env=subprocess_env())
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "generated" not in out
    assert f"the ranks disagree on '{field}'" in out, out
    assert "terminate called" not in out and "Aborted" not in out, out


SECRET_WORKER = textwrap.dedent(
    """
    import sys
    from shardlm import LLM, SamplingParams
    llm = LLM(sys.argv[1], tensor_parallel_size=2, device="cpu", dtype="float32")
    out = llm.generate(["Hello"], SamplingParams(temperature=0, max_tokens=3), use_tqdm=False)
    print("generated", out[0].outputs[0].token_ids)
    """
)


def test_a_store_secret_lets_the_job_in_and_keeps_a_rank_with_another_out(tiny_opt, tmp_path):
    # SHARDLM_STORE_SECRET: shardlm-run's store serves only clients that present it (README "Security").
    worker = tmp_path / "secret.py"
    worker.write_text(SECRET_WORKER)
    env = subprocess_env(SHARDLM_STORE_SECRET="job-secret-1", SHARDLM_DIST_TIMEOUT="20")
    proc = _shardlm_run(without_torch(worker, tiny_opt), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("generated") == 2
    # The workers present another secret than the launcher's store wants: refused at once, said so, no hang.
    proc = _shardlm_run(["env", "SHARDLM_STORE_SECRET=another", *without_torch(worker, tiny_opt)], env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "generated" not in out
    assert "refused this process's SHARDLM_STORE_SECRET" in out, out
    assert "another" not in out.replace("SHARDLM_STORE_SECRET=another", "") and "job-secret-1" not in out, out
    # And none at all.
    proc = _shardlm_run(["env", "-u", "SHARDLM_STORE_SECRET", *without_torch(worker, tiny_opt)], env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "requires a shared secret: set SHARDLM_STORE_SECRET" in out, out
