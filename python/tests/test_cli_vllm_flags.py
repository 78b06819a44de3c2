"""The `shardlm` command line in vLLM's words: engine flags with vLLM's spellings and meanings (`-tp`, `-dp`,
`-pp`, underscores, `--max-model-len 4k`, `--seed` as the engine seed), `--logprobs -1`, and `bench
throughput|latency` with vLLM's flags, defaults and result lines. Each flag's effect is checked against the
flag it stands for, the Python API or the rule vLLM documents."""

import json
import re
import subprocess

import pytest

from conftest import require_binary


def _shardlm(*args, timeout=300):
    return subprocess.run([str(require_binary("shardlm")), *map(str, args)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)


def _generate_jsonl(tiny_opt, tmp_path, *args, name="out.jsonl", max_tokens=8):
    out = tmp_path / name
    proc = _shardlm("generate", "--model", tiny_opt, "--no-progress", "--prompt", "Hello, my name is",
                    "--max-tokens", max_tokens, "--output-jsonl", out, *args)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in out.read_text().splitlines()], proc


SAMPLED = ["--temperature", "1.0", "--top-p", "1.0"]


# --- spellings ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", [["-tp", "1"], ["-tp=1"], ["--tensor_parallel_size", "1"], ["-dp", "1"]])
def test_short_and_underscore_spellings_run_as_the_long_flag(tiny_opt, tmp_path, spelling):
    want, _ = _generate_jsonl(tiny_opt, tmp_path, *SAMPLED, "--seed", "3", "--tensor-parallel-size", "1", name="a.jsonl")
    got, _ = _generate_jsonl(tiny_opt, tmp_path, *SAMPLED, "--seed", "3", *spelling, name="b.jsonl")
    assert got == want


@pytest.mark.parametrize("short, long", [("-tp", "--tensor-parallel-size"), ("-dp", "--data-parallel-size")])
def test_short_flags_carry_their_value(tiny_opt, short, long):
    # Without a launcher these sizes cannot be set up: the short flag must fail exactly as the long one does,
    # which shows its value reached the same setting.
    a = _shardlm("generate", "--model", tiny_opt, "--prompt", "Hi", short, "3", "--dist-timeout", "1")
    b = _shardlm("generate", "--model", tiny_opt, "--prompt", "Hi", long, "3", "--dist-timeout", "1")
    assert a.returncode == b.returncode != 0
    assert a.stderr.strip().splitlines()[-1] == b.stderr.strip().splitlines()[-1]
    bad = _shardlm("generate", "--model", tiny_opt, "--prompt", "Hi", short, "0")
    assert bad.returncode != 0 and f"{long}: expected an integer in [1, " in bad.stderr


def test_pipeline_parallelism_is_refused_clearly(tiny_opt, tmp_path):
    for spelling in (["-pp", "2"], ["--pipeline-parallel-size", "2"]):
        proc = _shardlm("generate", "--model", tiny_opt, "--prompt", "Hi", *spelling)
        assert proc.returncode != 0
        assert "--pipeline-parallel-size: pipeline parallelism is not supported (got '2')" in proc.stderr
    _generate_jsonl(tiny_opt, tmp_path, "-pp", "1")  # vLLM's default is a no-op


# --- --max-model-len ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_context_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("long") / "opt"
    made = _shardlm("make-model", "--preset", "opt-tiny", "--max-position-embeddings", "8192", "--out", folder)
    assert made.returncode == 0, made.stderr
    return folder


def _too_long(model, max_model_len, prompt_len):
    ids = ",".join(["100"] * prompt_len)
    return _shardlm("generate", "--model", model, "--no-progress", "--max-tokens", "1", "--prompt-token-ids", ids,
                    "--max-model-len", max_model_len)


@pytest.mark.parametrize("given, length", [("4k", 4000), ("4K", 4096), ("4.05k", 4050), ("4096", 4096),
                                           ("8k", 8000)])
def test_max_model_len_takes_vllms_suffixes(long_context_model, given, length):
    """vLLM's rule: k m g t are powers of 1000, K M G T powers of 1024. A prompt of exactly the limit is refused
    naming it (a token must fit after it); one token fewer is accepted."""
    proc = _too_long(long_context_model, given, length)
    assert proc.returncode == 1
    assert f"is longer than the maximum model length of {length} " in proc.stderr, proc.stderr


def test_max_model_len_limit_admits_a_shorter_prompt(long_context_model):
    proc = _too_long(long_context_model, "1k", 999)
    assert proc.returncode == 0, proc.stderr


def test_max_model_len_underscore_spelling(long_context_model):
    ids = ",".join(["100"] * 1000)
    proc = _shardlm("generate", "--model", long_context_model, "--no-progress", "--max-tokens", "1",
                    "--prompt-token-ids", ids, "--max_model_len", "1k")
    assert proc.returncode == 1 and "maximum model length of 1000 " in proc.stderr


@pytest.mark.parametrize(
    "given, message",
    [("4.5K", "decimals are not allowed with the binary suffix K in '4.5K'; did you mean 4.5k?"),
     ("4x", "expected a length such as 32768, 4k (4000) or 4K (4096), got '4x'"),
     ("-5", "expected a length such as 32768"),
     ("auto", "'auto' (vLLM's auto: the longest length the KV cache holds) is not supported"),
     ("-1", "'-1' (vLLM's auto"),
     ("3G", "'3G' is too large: at most 2147483647")],
)
def test_max_model_len_refuses_what_it_cannot_read(tiny_opt, given, message):
    proc = _shardlm("generate", "--model", tiny_opt, "--prompt", "Hi", "--max-model-len", given)
    assert proc.returncode != 0
    assert f"--max-model-len: {message}" in proc.stderr


def test_max_model_len_above_the_model_names_the_parsed_length(tiny_opt):
    proc = _shardlm("generate", "--model", tiny_opt, "--prompt", "Hi", "--max-model-len", "1K")
    assert proc.returncode != 0 and "max_model_len (1024)" in proc.stderr


# --- --seed is the engine seed -----------------------------------------------------------------------------


def test_seed_is_the_engine_seed(tiny_opt, tmp_path):
    from shardlm import LLM, SamplingParams

    one, _ = _generate_jsonl(tiny_opt, tmp_path, *SAMPLED, "--seed", "1", name="one.jsonl")
    again, _ = _generate_jsonl(tiny_opt, tmp_path, *SAMPLED, "--seed", "1", name="again.jsonl")
    two, _ = _generate_jsonl(tiny_opt, tmp_path, *SAMPLED, "--seed", "2", name="two.jsonl")
    tokens = lambda rows: rows[0]["outputs"][0]["token_ids"]  # noqa: E731
    assert tokens(one) == tokens(again)
    assert tokens(one) != tokens(two)
    # The same as vLLM's LLM(seed=...) with requests of no seed of their own.
    [ref] = LLM(str(tiny_opt), seed=1).generate("Hello, my name is", SamplingParams(temperature=1.0, max_tokens=8),
                                                 use_tqdm=False)
    assert tokens(one) == ref.outputs[0].token_ids
    # The old name still works, with a deprecation note.
    old, proc = _generate_jsonl(tiny_opt, tmp_path, *SAMPLED, "--engine-seed", "1", name="old.jsonl")
    assert tokens(old) == tokens(one)
    assert "--engine-seed is deprecated: use --seed" in proc.stderr


def test_sampling_seed_is_the_requests_own(tiny_opt, tmp_path):
    from shardlm import LLM, SamplingParams

    got, _ = _generate_jsonl(tiny_opt, tmp_path, *SAMPLED, "--sampling-seed", "1234", "--seed", "5")
    [ref] = LLM(str(tiny_opt)).generate("Hello, my name is",
                                        SamplingParams(temperature=1.0, max_tokens=8, seed=1234), use_tqdm=False)
    assert got[0]["outputs"][0]["token_ids"] == ref.outputs[0].token_ids


@pytest.mark.parametrize("command", [["serve"], ["bench", "throughput"], ["bench", "latency"]])
def test_every_engine_command_takes_the_engine_seed(command):
    proc = _shardlm(*command, "--help")
    assert proc.returncode == 0
    assert "--seed" in proc.stdout and "engine's random seed" in proc.stdout


# --- --logprobs --------------------------------------------------------------------------------------------


def test_logprobs_minus_one_is_the_whole_vocabulary_within_max_logprobs(tiny_opt, tmp_path):
    rows, _ = _generate_jsonl(tiny_opt, tmp_path, "--temperature", "0", "--logprobs", "-1", "--max-logprobs", "-1",
                              max_tokens=2)
    vocab = json.loads((tiny_opt / "config.json").read_text())["vocab_size"]
    logprobs = rows[0]["outputs"][0]["logprobs"]
    assert len(logprobs) == 2 and all(len(step) == vocab for step in logprobs)
    capped = _shardlm("generate", "--model", tiny_opt, "--prompt", "Hi", "--logprobs", "-1")
    assert capped.returncode != 0
    assert f"Requested sample logprobs of {vocab}" in capped.stderr and "--max-logprobs" in capped.stderr


@pytest.mark.parametrize("value", ["-2", "-100"])
def test_other_negative_logprobs_are_refused(tiny_opt, value):
    proc = _shardlm("generate", "--model", tiny_opt, "--prompt", "Hi", "--logprobs", value, "--max-logprobs", "-1")
    assert proc.returncode != 0
    assert f"logprobs must be non-negative or -1, got {value}." in proc.stderr
    assert "Generated text" not in proc.stdout


# --- bench throughput / latency ----------------------------------------------------------------------------


def _bench(kind, tiny_opt, tmp_path, *args):
    out = tmp_path / f"{kind}.json"
    proc = _shardlm("bench", kind, "--model", tiny_opt, "--output-json", out, *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text()), proc.stdout


def test_bench_throughput_random_dataset_token_counts(tiny_opt, tmp_path):
    got, stdout = _bench("throughput", tiny_opt, tmp_path, "--dataset-name", "random", "--random-input-len", "7",
                         "--random-output-len", "3", "--num-prompts", "4", "--n", "2")
    assert got["num_requests"] == 4
    assert got["total_prompt_tokens"] == 4 * 7 and got["total_output_tokens"] == 4 * 2 * 3
    assert got["total_num_tokens"] == 4 * 7 + 4 * 2 * 3
    assert got["tokens_per_second"] == pytest.approx(got["total_num_tokens"] / got["elapsed_time"])
    assert stdout.startswith("Throughput: ") and " requests/s, " in stdout and " output tokens/s\n" in stdout
    assert "Total num prompt tokens:  28\nTotal num output tokens:  24\n" in stdout
    # vLLM's --input-len / --output-len name the same lengths.
    same, _ = _bench("throughput", tiny_opt, tmp_path, "--input-len", "7", "--output-len", "3", "--num-prompts", "4")
    assert (same["total_prompt_tokens"], same["total_output_tokens"]) == (28, 12)


def test_bench_throughput_range_ratio(tiny_opt, tmp_path):
    args = ["--input-len", "20", "--output-len", "10", "--random-range-ratio", "0.5", "--num-prompts", "16"]
    a, _ = _bench("throughput", tiny_opt, tmp_path, *args, "--dataset-seed", "3")
    b, _ = _bench("throughput", tiny_opt, tmp_path, *args, "--dataset-seed", "3")
    c, _ = _bench("throughput", tiny_opt, tmp_path, *args, "--dataset-seed", "4")
    # Lengths drawn from [10, 30] and [5, 15]: not all equal, within bounds, reproducible by the dataset seed.
    assert 16 * 10 <= a["total_prompt_tokens"] <= 16 * 30 and a["total_prompt_tokens"] != 16 * 20
    assert 16 * 5 <= a["total_output_tokens"] <= 16 * 15 and a["total_output_tokens"] != 16 * 10
    assert (a["total_prompt_tokens"], a["total_output_tokens"]) == (b["total_prompt_tokens"], b["total_output_tokens"])
    assert (a["total_prompt_tokens"], a["total_output_tokens"]) != (c["total_prompt_tokens"], c["total_output_tokens"])
    # A shared prefix adds its tokens to every prompt.
    d, _ = _bench("throughput", tiny_opt, tmp_path, *args, "--dataset-seed", "3", "--random-prefix-len", "5")
    assert d["total_prompt_tokens"] == a["total_prompt_tokens"] + 16 * 5


@pytest.mark.parametrize(
    "args, message",
    [(["--dataset-name", "sharegpt"], "--dataset-name sharegpt: only the random dataset is supported offline"),
     (["--dataset-path", "x.json"], "--dataset-path: datasets from files are not supported"),
     (["--input-len", "7", "--random-input-len", "8"], "--input-len (7) and --random-input-len (8) disagree"),
     (["--random-range-ratio", "1"], "--random-range-ratio must be in [0, 1), got 1"),
     (["--input-len", "400", "--output-len", "200"], "a request of 400 prompt and 200 output tokens does not fit "
                                                     "max_model_len 512"),
     (["--dataset-seed", "-1"], "--dataset-seed: expected an integer in [0, 18446744073709551615], got '-1'")],
)
def test_bench_throughput_refuses_what_it_cannot_do(tiny_opt, args, message):
    proc = _shardlm("bench", "throughput", "--model", tiny_opt, "--num-prompts", "2", *args)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_bench_latency_prefix_caching_off_by_default(tiny_opt, tmp_path):
    args = ["--input-len", "40", "--output-len", "2", "--batch-size", "2", "--num-iters-warmup", "1", "--num-iters", "3"]
    got, stdout = _bench("latency", tiny_opt, tmp_path, *args)
    assert len(got["latencies"]) == 3 and set(got["percentiles"]) == {"10", "25", "50", "75", "90", "99"}
    assert got["avg_latency"] == pytest.approx(sum(got["latencies"]) / 3)
    assert "Warming up...\n" in stdout and "Avg latency: " in stdout and "50% percentile latency: " in stdout
    assert "Prefix caching: off, hit rate 0.0%" in stdout
    # Turned on, the repeated batch is found in the cache.
    _, stdout = _bench("latency", tiny_opt, tmp_path, *args, "--enable-prefix-caching")
    assert "Prefix caching: on, hit rate " in stdout and "hit rate 0.0%" not in stdout


def test_bench_latency_defaults_are_vllms():
    proc = _shardlm("bench", "latency", "--help")
    flat = " ".join(proc.stdout.split())
    for flag, default in [("--batch-size", 8), ("--num-iters", 30), ("--num-iters-warmup", 10), ("--n", 1)]:
        assert re.search(rf"{flag} INT(:[^=]*)?={default}\b", flat), flag
    assert "(default 32)" in flat and "(default 128)" in flat


# --- per-prompt priority -----------------------------------------------------------------------------------


def _run_prompts_file(tiny_opt, tmp_path, lines, *args):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out.jsonl"
    proc = _shardlm("generate", "--model", tiny_opt, "--no-progress", "--prompts-file", prompts, "--max-tokens", 3,
                    "--max-num-seqs", 1, "--output-jsonl", out, *args)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_jsonl_priority_orders_prompts_under_the_priority_policy(tiny_opt, tmp_path):
    """One request runs at a time and both prompts share a 16-token block: the one that runs second finds it in
    the prefix cache. Under "priority" the later prompt with the lower value runs first; under "fcfs" the
    file's order holds and priorities are ignored (vLLM's)."""
    shared = "The quick brown fox jumps over the lazy dog and keeps running through the forest until night falls"
    lines = [{"prompt": shared + ", said A", "priority": 2}, {"prompt": shared + ", said B", "priority": 0}]
    fcfs = _run_prompts_file(tiny_opt, tmp_path, lines)
    prio = _run_prompts_file(tiny_opt, tmp_path, lines, "--scheduling-policy", "priority")
    assert [r["num_cached_tokens"] for r in fcfs] == [0, 16]
    assert [r["num_cached_tokens"] for r in prio] == [16, 0]
    assert [r["prompt"] for r in prio] == [line["prompt"] for line in lines]  # outputs stay in prompt order
    assert [r["outputs"][0]["token_ids"] for r in prio] == [r["outputs"][0]["token_ids"] for r in fcfs]


@pytest.mark.parametrize("priority", [1.5, "1", True, 2**31])
def test_jsonl_priority_must_be_an_int(tiny_opt, tmp_path, priority):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"prompt": "Hello"}) + "\n" + json.dumps({"prompt": "Hi", "priority": priority}) + "\n")
    proc = _shardlm("generate", "--model", tiny_opt, "--prompts-file", prompts)
    assert proc.returncode == 1
    assert f"{prompts}:2: priority is " in proc.stderr and "expected an integer in [-2147483648, 2147483647]" in proc.stderr
