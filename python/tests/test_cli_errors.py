"""The `shardlm` command line on bad output paths and out-of-range numbers: a write that fails (a full disk,
/dev/full, a missing folder) is an error naming the path and errno's text, found before the model loads when
the path cannot be opened; token ids, seeds and engine flags that do not fit are refused naming the flag or
the field, never wrapped or clamped."""

import json
import subprocess

import pytest

from conftest import require_binary


def _shardlm(*args, stdout=subprocess.PIPE, timeout=300):
    return subprocess.run([str(require_binary("shardlm")), *map(str, args)], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)


def _generate(tiny_opt, *args, stdout=subprocess.PIPE):
    return _shardlm("generate", "--model", tiny_opt, "--max-tokens", "2", "--no-progress", *args, stdout=stdout)


# --- writes that fail -------------------------------------------------------------------------------------


def test_output_jsonl_to_a_full_disk_is_an_error(tiny_opt):
    proc = _generate(tiny_opt, "--prompt", "Hello", "--output-jsonl", "/dev/full")
    assert proc.returncode == 1, proc.stderr
    assert "--output-jsonl: cannot write '/dev/full': No space left on device" in proc.stderr


def test_output_jsonl_that_cannot_be_opened_fails_before_the_model_loads(tmp_path):
    # The model does not exist either: the output path is checked first, so its error is the one reported.
    missing = tmp_path / "no-such-folder" / "out.{rank}.jsonl"
    proc = _shardlm("generate", "--model", tmp_path / "no-such-model", "--prompt", "Hello", "--output-jsonl", missing)
    assert proc.returncode == 1, proc.stderr
    want = f"--output-jsonl: cannot open '{tmp_path}/no-such-folder/out.0.jsonl' for writing: No such file or directory"
    assert want in proc.stderr
    assert "no-such-model" not in proc.stderr


def test_output_jsonl_is_still_written(tiny_opt, tmp_path):
    proc = _generate(tiny_opt, "--prompt", "Hello", "--output-jsonl", tmp_path / "out.{rank}.jsonl")
    assert proc.returncode == 0, proc.stderr
    [line] = (tmp_path / "out.0.jsonl").read_text().splitlines()
    assert json.loads(line)["prompt"] == "Hello"


def test_standard_output_to_a_full_disk_is_an_error(tiny_opt):
    with open("/dev/full", "w") as full:
        proc = _generate(tiny_opt, "--prompt", "Hello", stdout=full)
    assert proc.returncode == 1, proc.stderr
    assert "cannot write standard output: No space left on device" in proc.stderr


@pytest.mark.parametrize("kind", ["throughput", "latency"])
def test_bench_output_json_to_a_full_disk_is_an_error(tiny_opt, kind):
    proc = _shardlm("bench", kind, "--model", tiny_opt, "--input-len", "4", "--output-len", "2",
                    *(["--num-prompts", "2"] if kind == "throughput" else ["--batch-size", "1", "--num-iters", "1",
                                                                             "--num-iters-warmup", "0"]),
                    "--output-json", "/dev/full")
    assert proc.returncode == 1, proc.stderr
    assert "--output-json: cannot write '/dev/full': No space left on device" in proc.stderr


def test_bench_output_json_that_cannot_be_opened_fails_before_the_model_loads(tmp_path):
    proc = _shardlm("bench", "throughput", "--model", tmp_path / "no-such-model", "--output-json",
                    tmp_path / "missing" / "bench.json")
    assert proc.returncode == 1, proc.stderr
    assert f"--output-json: cannot open '{tmp_path}/missing/bench.json' for writing: No such file or directory" in proc.stderr
    assert "no-such-model" not in proc.stderr


def test_bench_serve_output_json_is_checked_before_the_run(tmp_path):
    proc = _shardlm("bench", "serve", "--base-url", "http://127.0.0.1:1", "--output-json", tmp_path / "missing" / "m.json")
    if "no HTTP library" in proc.stderr:
        pytest.skip("built without cpp-httplib")
    assert proc.returncode == 1, proc.stderr
    assert f"cannot open '{tmp_path}/missing/m.json' for writing: No such file or directory" in proc.stderr


# --- numbers that do not fit ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--prompt-token-ids", "2,4294967298"], "--prompt-token-ids: '4294967298' is not an integer token id"),
        (["--prompt-token-ids", "2,-1"], "--prompt-token-ids: '-1' is not an integer token id"),
        (["--prompt", "Hi", "--stop-token-ids", "4294967298"], "--stop-token-ids: '4294967298' is not an integer token id"),
        (["--prompt", "Hi", "--seed", str(2**64)], "--seed: expected an integer in [-9223372036854775808, 9223372036854775807]"),
        (["--prompt", "Hi", "--sampling-seed", str(2**64)], "--sampling-seed: expected an integer in [-1, 9223372036854775807]"),
        (["--prompt", "Hi", "--engine-seed", str(2**63)], "--engine-seed: expected an integer"),
        (["--prompt", "Hi", "--kv-cache-memory-bytes", "-1"], "--kv-cache-memory-bytes: expected an integer in [0, "),
        (["--prompt", "Hi", "--num-threads", "-1"], "--num-threads: expected an integer in [0, "),
        (["--prompt", "Hi", "--max-num-seqs", "-1"], "--max-num-seqs: expected an integer in [0, "),
        (["--prompt", "Hi", "--max-num-batched-tokens", "-1"], "--max-num-batched-tokens: expected an integer in [0, "),
        (["--prompt", "Hi", "--max-model-len", "-2"], "--max-model-len: expected a length such as 32768, 4k (4000) or 4K (4096), got '-2'"),
        (["--prompt", "Hi", "--gpu-memory-utilization", "2"], "--gpu-memory-utilization: expected a number in (0, 1], got '2'"),
        (["--prompt", "Hi", "--gpu-memory-utilization", "0"], "--gpu-memory-utilization: expected a number in (0, 1]"),
        (["--prompt", "Hi", "--gpu-memory-utilization", "nan"], "--gpu-memory-utilization: expected a number in (0, 1]"),
        (["--prompt", "Hi", "--dist-timeout", "-5"], "--dist-timeout: expected a number greater than 0"),
    ],
)
def test_out_of_range_numbers_on_the_command_line_are_refused(tiny_opt, flags, message):
    proc = _generate(tiny_opt, *flags)
    assert proc.returncode != 0, proc.stdout
    assert message in proc.stderr


def test_bench_dataset_seed_is_not_wrapped(tiny_opt):
    proc = _shardlm("bench", "throughput", "--model", tiny_opt, "--num-prompts", "1", "--input-len", "2",
                    "--output-len", "1", "--dataset-seed", str(2**64))
    assert proc.returncode != 0, proc.stdout
    assert f"--dataset-seed: expected an integer in [0, 18446744073709551615], got '{2**64}'" in proc.stderr


def test_zero_means_the_default_and_bounds_are_inclusive(tiny_opt):
    proc = _generate(tiny_opt, "--prompt", "Hi", "--max-num-seqs", "0", "--max-num-batched-tokens", "0",
                     "--kv-cache-memory-bytes", "0", "--num-threads", "0", "--gpu-memory-utilization", "1",
                     "--sampling-seed", "-1", "--seed", "-1", "--prompt-token-ids", "2,31414")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    "ids, shown",
    [("[2, 2.9]", "prompt_token_ids[1] is 2.9"), ("[true, 2]", "prompt_token_ids[0] is true"),
     ("[2, 4294967298]", "prompt_token_ids[1] is 4294967298"), ("[-3]", "prompt_token_ids[0] is -3"),
     ('"2,3"', 'prompt_token_ids must be a list of integers, got "2,3"')],
)
def test_jsonl_prompt_token_ids_must_be_integers_that_fit(tiny_opt, tmp_path, ids, shown):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "fine"}\n{"prompt_token_ids": ' + ids + "}\n")
    proc = _generate(tiny_opt, "--prompts-file", prompts)
    assert proc.returncode != 0, proc.stdout
    assert f"{prompts}:2: {shown}" in proc.stderr


def test_sampling_flags_reach_the_jsonl_as_llm_generate_gives_them(tiny_opt, tmp_path):
    """--prompt-logprobs, --logit-bias, --allowed-token-ids, --bad-words, --truncate-prompt-tokens and
    --no-detokenize mean what the SamplingParams fields mean in Python; bad values are refused naming the flag."""
    from shardlm import LLM, SamplingParams

    out = tmp_path / "out.jsonl"
    ids = "2,100,2003,16,10,205"
    proc = _shardlm("generate", "--model", tiny_opt, "--max-tokens", "3", "--no-progress", "--temperature", "0",
                    "--prompt-token-ids", ids, "--prompt-logprobs", "2", "--logit-bias", "10=5.5",
                    "--allowed-token-ids", "10,20,30,40", "--bad-words", "that", "--truncate-prompt-tokens", "5",
                    "--no-detokenize", "--output-jsonl", out)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(out.read_text())
    want = LLM(str(tiny_opt), device="cpu").generate(
        {"prompt_token_ids": [int(x) for x in ids.split(",")]},
        SamplingParams(temperature=0, max_tokens=3, prompt_logprobs=2, logit_bias={10: 5.5},
                       allowed_token_ids=[10, 20, 30, 40], bad_words=["that"], truncate_prompt_tokens=5,
                       detokenize=False), use_tqdm=False)[0]
    assert got["prompt_token_ids"] == want.prompt_token_ids == [100, 2003, 16, 10, 205]
    assert got["outputs"][0]["token_ids"] == want.outputs[0].token_ids and got["outputs"][0]["text"] == ""
    assert got["prompt_logprobs"][0] is None
    for entry, ref in zip(got["prompt_logprobs"][1:], want.prompt_logprobs[1:]):
        assert {int(k) for k in entry} == set(ref)
        for k, v in entry.items():
            assert v == pytest.approx(ref[int(k)].logprob, abs=1e-5)
    bad = _generate(tiny_opt, "--prompt", "Hi", "--logit-bias", "10:5")
    assert bad.returncode != 0 and "--logit-bias: '10:5' is not TOKEN_ID=BIAS" in bad.stderr
    bad = _generate(tiny_opt, "--prompt", "Hi", "--prompt-logprobs", "-2")
    assert bad.returncode != 0 and "prompt_logprobs must be non-negative or -1, got -2." in bad.stderr


def test_scheduling_policy_flag_is_checked_and_accepted(tiny_opt):
    bad = _generate(tiny_opt, "--prompt", "Hi", "--scheduling-policy", "lifo")
    assert bad.returncode != 0 and "--scheduling-policy" in bad.stderr and "lifo" in bad.stderr
    good = _generate(tiny_opt, "--prompt", "Hi", "--scheduling-policy", "priority")
    assert good.returncode == 0, good.stderr
