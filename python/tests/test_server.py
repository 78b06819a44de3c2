"""`shardlm serve` against the official `openai` client: completions (one prompt, several, token ids), streaming
(its chunks add up to the non-streamed text, usage chunk, [DONE]), n > 1 with a seed, stop strings, the same
outputs as LLM.generate, OpenAI's error objects (bad values, unknown model, too-long prompt, wrong API key),
concurrent streams, and a clean exit on SIGTERM."""

import concurrent.futures
import json
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

openai = pytest.importorskip("openai", reason="the openai client is installed by scripts/setup.sh")
from conftest import require_binary, subprocess_env  # noqa: E402
from serving import (MODEL, check_a_lost_rank_stops_the_server, check_serves_like_one_rank, metric,  # noqa: E402
                     start_server)
from shardlm import LLM, SamplingParams  # noqa: E402


@pytest.fixture(scope="module")
def server(tiny_opt):
    proc, url = start_server(tiny_opt)
    yield url
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, proc.stdout.read()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server, api_key="unused")


@pytest.fixture(scope="module")
def reference(tiny_opt):
    return LLM(str(tiny_opt), dtype="float32", device="cpu")


def test_models_and_a_greedy_completion_match_llm_generate(client, reference):
    assert [m.id for m in client.models.list().data] == [MODEL]
    out = client.completions.create(model=MODEL, prompt="Hello, my name is", max_tokens=12, temperature=0)
    want = reference.generate(["Hello, my name is"], SamplingParams(temperature=0, max_tokens=12), use_tqdm=False)[0]
    assert out.choices[0].text == want.outputs[0].text
    assert out.choices[0].finish_reason == "length"
    assert out.usage.prompt_tokens == len(want.prompt_token_ids) and out.usage.completion_tokens == 12


def test_streamed_chunks_add_up_to_the_completion(client):
    kwargs = dict(model=MODEL, prompt=["The capital of France is", "Hi"], max_tokens=10, temperature=0)
    whole = client.completions.create(**kwargs)
    texts, finish, usage = {}, {}, None
    for chunk in client.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs):
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            texts[c.index] = texts.get(c.index, "") + c.text
            if c.finish_reason:
                finish[c.index] = c.finish_reason
    assert texts == {c.index: c.text for c in whole.choices}
    assert finish == {0: "length", 1: "length"}
    assert usage.completion_tokens == 20 and usage.total_tokens == whole.usage.total_tokens


def test_n_seed_stop_and_token_id_prompts_follow_sampling_params(client, reference):
    out = client.completions.create(model=MODEL, prompt="The future of AI is", max_tokens=8, n=2, seed=5,
                                    temperature=0.8, top_p=0.95)
    want = reference.generate(["The future of AI is"], SamplingParams(n=2, seed=5, temperature=0.8, top_p=0.95,
                                                                      max_tokens=8), use_tqdm=False)[0]
    assert sorted(c.text for c in out.choices) == sorted(o.text for o in want.outputs)
    greedy = reference.generate(["Hello"], SamplingParams(temperature=0, max_tokens=12), use_tqdm=False)[0]
    stop = greedy.outputs[0].text[4:8]
    stopped = client.completions.create(model=MODEL, prompt="Hello", max_tokens=12, temperature=0, stop=[stop])
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].text == greedy.outputs[0].text[:greedy.outputs[0].text.index(stop)]
    ids = client.completions.create(model=MODEL, prompt=list(greedy.prompt_token_ids), max_tokens=12, temperature=0)
    assert ids.choices[0].text == greedy.outputs[0].text


def test_logprobs_and_echo_match_llm_generate(client, reference):
    prompt = "The future of AI is"
    want = reference.generate([prompt], SamplingParams(temperature=0, max_tokens=6, logprobs=2), use_tqdm=False)[0]
    ref = want.outputs[0]
    tokenizer = reference.get_tokenizer()
    out = client.completions.create(model=MODEL, prompt=prompt, max_tokens=6, temperature=0, logprobs=2)
    lp = out.choices[0].logprobs
    assert lp.tokens == [tokenizer.decode([t], skip_special_tokens=False) for t in ref.token_ids]
    assert lp.token_logprobs == pytest.approx([ref.logprobs[i][t].logprob for i, t in enumerate(ref.token_ids)], abs=1e-5)
    for i, top in enumerate(lp.top_logprobs):  # the sampled token and the top 2, keyed by their text
        assert len(top) >= 2 and max(top.values()) == pytest.approx(max(x.logprob for x in ref.logprobs[i].values()), abs=1e-5)
    assert lp.text_offset[0] == 0 and lp.text_offset == sorted(lp.text_offset)
    # Streamed logprobs add up to the same lists; echo puts the prompt first and shifts the offsets.
    streamed = [c.choices[0].logprobs for c in client.completions.create(
        model=MODEL, prompt=prompt, max_tokens=6, temperature=0, logprobs=2, stream=True) if c.choices]
    assert [t for c in streamed if c for t in c.tokens] == lp.tokens
    echoed = client.completions.create(model=MODEL, prompt=prompt, max_tokens=6, temperature=0, echo=True)
    assert echoed.choices[0].text == prompt + ref.text
    chunks = client.completions.create(model=MODEL, prompt=prompt, max_tokens=6, temperature=0, echo=True, stream=True)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == prompt + ref.text


def test_errors_are_openai_error_objects(client, server):
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client.completions.create(model=MODEL, prompt="a", temperature=-1)
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.completions.create(model="no-such-model", prompt="a")
    with pytest.raises(openai.BadRequestError, match="max_model_len|longer"):
        client.completions.create(model=MODEL, prompt=[2] * 5000, max_tokens=1)
    request = urllib.request.Request(server + "/completions", data=b'{"model": "tiny", "prompt": [[[', method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    body = json.loads(err.value.read())
    assert err.value.code == 400 and body["error"]["type"] == "BadRequestError" and "JSON" in body["error"]["message"]
    # The server still serves after every error.
    assert client.completions.create(model=MODEL, prompt="a", max_tokens=2).usage.completion_tokens == 2


def test_latency_histograms_count_requests(client, server):
    ttft, e2e, tpot = (metric(server, f"{n}_count") for n in ("time_to_first_token_seconds", "e2e_request_latency_seconds",
                                                               "request_time_per_output_token_seconds"))
    lengths = metric(server, 'request_success_total{model_name="tiny",finished_reason="length"')
    for _ in range(3):
        client.completions.create(model=MODEL, prompt="Hi", max_tokens=5, temperature=0, extra_body={"ignore_eos": True})
    assert metric(server, "time_to_first_token_seconds_count") == ttft + 3
    assert metric(server, "e2e_request_latency_seconds_count") == e2e + 3
    assert metric(server, "request_time_per_output_token_seconds_count") == tpot + 3  # TPOT: one per request
    assert metric(server, 'request_success_total{model_name="tiny",finished_reason="length"') == lengths + 3
    assert metric(server, "inter_token_latency_seconds_count") >= 3 * 4  # four more outputs after each first
    assert metric(server, 'time_to_first_token_seconds_bucket{model_name="tiny",le="+Inf"') == ttft + 3


def test_concurrent_streams_all_complete(client):
    def one(i):
        n = 0
        for chunk in client.completions.create(model=MODEL, prompt=f"Request {i}", max_tokens=6 + i % 5,
                                               temperature=0.7, seed=i, stream=True,
                                               extra_body={"ignore_eos": True}):
            n += sum(1 for c in chunk.choices if c.text)
        return n

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        counts = list(pool.map(one, range(32)))
    assert all(c >= 1 for c in counts) and len(counts) == 32


def test_api_key_is_required_when_set(tiny_opt):
    proc, url = start_server(tiny_opt, "--api-key", "secret")
    try:
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url, api_key="wrong").models.list()
        assert openai.OpenAI(base_url=url, api_key="secret").models.list().data[0].id == MODEL
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_a_client_that_disconnects_mid_stream_frees_its_request(client, server):
    before = metric(server, "generation_tokens_total")
    stream = client.completions.create(model=MODEL, prompt="Hello", max_tokens=500, temperature=0, stream=True,
                                       extra_body={"ignore_eos": True})
    for i, _ in enumerate(stream):
        if i == 2:
            break
    stream.close()
    deadline = time.time() + 20
    while metric(server, "num_requests_running") != 0 and time.time() < deadline:
        time.sleep(0.05)
    assert metric(server, "num_requests_running") == 0
    time.sleep(0.5)  # the counters are published after each engine step
    generated = metric(server, "generation_tokens_total") - before
    assert 3 <= generated < 400, generated  # aborted, not run to its 500 tokens
    assert client.completions.create(model=MODEL, prompt="a", max_tokens=2).usage.completion_tokens == 2
    assert metric(server, 'request_success_total{model_name="tiny",finished_reason="abort"') >= 1


def test_two_ranks_under_shardlm_run_serve_what_one_rank_generates(tiny_opt, reference):
    launcher = (str(require_binary("shardlm-run")), "--standalone", "--nproc-per-node=2")
    proc, url = start_server(tiny_opt, "--tensor-parallel-size", "2", launcher=launcher)
    try:
        prompts = ["Hello, my name is", "The capital of France is"]
        want = reference.generate(prompts, SamplingParams(temperature=0, max_tokens=10), use_tqdm=False)
        check_serves_like_one_rank(url, prompts, want)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    log = proc.stdout.read()
    assert rc in (0, 143) and "Error" not in log and "error" not in log, log  # 143: the launcher's own SIGTERM


def _rank_pid(launcher_pid, rank):
    """The pid of the launcher's worker whose environment says RANK=rank."""
    for child in open(f"/proc/{launcher_pid}/task/{launcher_pid}/children").read().split():
        try:
            env = open(f"/proc/{child}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in env:
            return int(child)
    raise AssertionError(f"no rank {rank} among the children of {launcher_pid}")


def test_a_rank_that_dies_stops_the_server_naming_it(tiny_opt):
    launcher = (str(require_binary("shardlm-run")), "--standalone", "--nproc-per-node=2")
    proc, url = start_server(tiny_opt, "--tensor-parallel-size", "2", "--dist-timeout", "5", launcher=launcher)
    check_a_lost_rank_stops_the_server(proc, url, lambda: _rank_pid(proc.pid, 1), dist_timeout=5)


def _post(server, path, body):
    request = urllib.request.Request(server.replace("/v1", path), data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_tokenize_and_detokenize_round_trip(server, reference):
    status, tok = _post(server, "/tokenize", {"model": MODEL, "prompt": "Hello, my name is"})
    assert status == 200 and tok["tokens"] == reference.get_tokenizer().encode("Hello, my name is")
    assert tok["count"] == len(tok["tokens"]) and tok["max_model_len"] == 512
    status, detok = _post(server, "/detokenize", {"model": MODEL, "tokens": tok["tokens"]})
    assert status == 200 and detok["prompt"] == "Hello, my name is"
    status, err = _post(server, "/detokenize", {"tokens": [10**9]})
    assert status == 400 and err["error"]["param"] == "tokens"
    status, err = _post(server, "/tokenize", {"model": "other", "prompt": "a"})
    assert status == 404 and err["error"]["type"] == "NotFoundError"


def test_an_oversized_body_is_413_with_an_error_object(server):
    body = b'{"model": "tiny", "prompt": "' + b"a" * (33 << 20) + b'"}'  # over the 32 MiB limit
    request = urllib.request.Request(server + "/completions", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=30)
    assert e.value.code == 413
    assert json.loads(e.value.read())["error"]["code"] == 413


def test_a_full_request_queue_answers_503(tiny_opt):
    # --max-waiting-requests 0: no request may wait, so every generation request meets a full queue.
    proc, url = start_server(tiny_opt, "--max-waiting-requests", "0")
    try:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        with pytest.raises(openai.InternalServerError) as e:
            client.completions.create(model=MODEL, prompt="Hi", max_tokens=2)
        assert e.value.status_code == 503 and "queue is full" in e.value.message
        assert _post(url, "/tokenize", {"prompt": "Hi"})[0] == 200  # only generation waits in the queue
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_version_is_the_packages(server):
    import shardlm

    with urllib.request.urlopen(server.replace("/v1", "/version"), timeout=10) as r:
        assert json.loads(r.read()) == {"version": shardlm.__version__}


def test_bench_serve_drives_500_concurrent_streams(server, tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([str(require_binary("shardlm")), "bench", "serve", "--base-url", server[:-len("/v1")],
                           "--num-prompts", "500", "--max-concurrency", "500", "--input-len", "16", "--output-len", "8",
                           "--output-json", str(out)], capture_output=True, text=True, timeout=300, env=subprocess_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metrics = json.loads(out.read_text())
    assert metrics["completed"] == 500 and metrics["failed"] == 0
    assert metrics["total_output_tokens"] == 500 * 8 and metrics["total_input_tokens"] == 500 * 16
    assert 0 < metrics["median_ttft_ms"] <= metrics["median_e2el_ms"]
    assert metric(server, "num_requests_running") == 0


def test_a_port_in_use_is_a_clear_error(server, tiny_opt):
    port = server.split(":")[-1].split("/")[0]
    proc = subprocess.run([str(require_binary("shardlm")), "serve", str(tiny_opt), "--device", "cpu", "--port", port],
                          capture_output=True, text=True, timeout=120, env=subprocess_env())
    assert proc.returncode != 0 and f"cannot listen on 127.0.0.1:{port}" in proc.stderr, proc.stderr


def test_vllm_style_module_entry_point(tiny_opt, reference):
    # python -m shardlm.entrypoints.openai.api_server --model M: vLLM's deployment command, native server behind it.
    proc, url = start_server(tiny_opt, command=[sys.executable, "-m", "shardlm.entrypoints.openai.api_server",
                                          "--model", str(tiny_opt)])
    try:
        client = openai.OpenAI(base_url=url, api_key="unused")
        out = client.completions.create(model=MODEL, prompt="Hello", max_tokens=4, temperature=0)
        want = reference.generate(["Hello"], SamplingParams(temperature=0, max_tokens=4), use_tqdm=False)[0]
        assert out.choices[0].text == want.outputs[0].text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0



def test_echo_with_logprobs_puts_the_prompt_tokens_logprobs_first(client, reference):
    """vLLM's format: tokens, token_logprobs, top_logprobs and text_offset cover the prompt's tokens, then the
    output's; the first prompt token has null logprob and null top_logprobs; offsets count from 0."""
    prompt = "The future of AI is"
    want = reference.generate([prompt], SamplingParams(temperature=0, max_tokens=4, logprobs=2, prompt_logprobs=2),
                              use_tqdm=False)[0]
    tokenizer = reference.get_tokenizer()
    ids = list(want.prompt_token_ids) + list(want.outputs[0].token_ids)
    texts = [tokenizer.decode([t], skip_special_tokens=False) for t in ids]
    out = client.completions.create(model=MODEL, prompt=prompt, max_tokens=4, temperature=0, logprobs=2, echo=True)
    choice = out.choices[0]
    assert choice.text == prompt + want.outputs[0].text
    lp = choice.logprobs
    assert lp.tokens == texts
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    n = len(want.prompt_token_ids)
    expected = [want.prompt_logprobs[i][t].logprob for i, t in enumerate(want.prompt_token_ids) if i] + \
               [want.outputs[0].logprobs[i][t].logprob for i, t in enumerate(want.outputs[0].token_ids)]
    assert lp.token_logprobs[1:] == pytest.approx(expected, abs=1e-5)
    assert all(len(top) >= 2 for top in lp.top_logprobs[1:])
    assert lp.text_offset == [sum(len(t) for t in texts[:i]) for i in range(len(texts))]
    assert len(lp.tokens) == n + 4
    # Streamed: the first chunk carries the prompt's text and logprobs; all chunks add up to the same lists.
    chunks = [c.choices[0] for c in client.completions.create(model=MODEL, prompt=prompt, max_tokens=4, temperature=0,
                                                               logprobs=2, echo=True, stream=True) if c.choices]
    assert "".join(c.text for c in chunks) == choice.text
    assert [t for c in chunks if c.logprobs for t in c.logprobs.tokens] == lp.tokens
    assert [t for c in chunks if c.logprobs for t in c.logprobs.text_offset] == lp.text_offset


def test_logit_bias_and_vllm_extras(client, server, reference):
    prompt = "Hello, my name is"
    free = reference.generate([prompt], SamplingParams(temperature=0, max_tokens=1), use_tqdm=False)[0]
    first = free.outputs[0].token_ids[0]
    # A ban on the greedy token (OpenAI's string keys) makes the runner-up come first, as LLM.generate says.
    banned = reference.generate([prompt], SamplingParams(temperature=0, max_tokens=3, logit_bias={first: -100}),
                                use_tqdm=False)[0]
    out = client.completions.create(model=MODEL, prompt=prompt, max_tokens=3, temperature=0,
                                    logit_bias={str(first): -100})
    assert out.choices[0].text == banned.outputs[0].text and banned.outputs[0].token_ids[0] != first
    # vLLM's extra prompt_logprobs: each choice carries them, keyed by token id, first position null.
    status, body = _post(server, "/v1/completions", {"model": MODEL, "prompt": prompt, "max_tokens": 1, "prompt_logprobs": 1})
    assert status == 200, body
    plp = body["choices"][0]["prompt_logprobs"]
    want = reference.generate([prompt], SamplingParams(temperature=0, max_tokens=1, prompt_logprobs=1),
                              use_tqdm=False)[0]
    assert plp[0] is None and len(plp) == len(want.prompt_token_ids)
    for got, ref, tok in zip(plp[1:], want.prompt_logprobs[1:], want.prompt_token_ids[1:]):
        assert {int(k) for k in got} == set(ref)
        assert got[str(tok)]["logprob"] == pytest.approx(ref[tok].logprob, abs=1e-5)
        assert got[str(tok)]["rank"] == ref[tok].rank
    allowed = client.completions.create(model=MODEL, prompt=prompt, max_tokens=4, temperature=0,
                                        extra_body={"allowed_token_ids": [10, 20, 30], "bad_words": ["that"]})
    want_allowed = reference.generate([prompt], SamplingParams(temperature=0, max_tokens=4, allowed_token_ids=[10, 20, 30],
                                                               bad_words=["that"]), use_tqdm=False)[0].outputs[0]
    assert set(want_allowed.token_ids) <= {10, 20, 30} and allowed.choices[0].text == want_allowed.text
    with pytest.raises(openai.BadRequestError, match="cannot be converted to integer token IDs"):
        client.completions.create(model=MODEL, prompt=prompt, logit_bias={"x": 1})
    with pytest.raises(openai.BadRequestError, match="out-of-vocab"):
        client.completions.create(model=MODEL, prompt=prompt, logit_bias={"99999999": 1})
    with pytest.raises(openai.BadRequestError, match="not available when `stream=True`"):
        client.completions.create(model=MODEL, prompt=prompt, stream=True, extra_body={"prompt_logprobs": 1})

