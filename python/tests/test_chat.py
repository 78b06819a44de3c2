"""Chat: the tokenizer's apply_chat_template against transformers' on real chat templates (tests/data/
chat_templates) put into a copy of the tiny-llama fixture, LLM.chat against LLM.generate on transformers'
rendering, errors (a template's raise_exception, no template), and /v1/chat/completions with the official openai
client (whole, streamed, logprobs) against LLM.chat."""

import pathlib
import shutil
import signal

import pytest

transformers = pytest.importorskip("transformers", reason="transformers is installed by scripts/setup.sh")
openai = pytest.importorskip("openai", reason="the openai client is installed by scripts/setup.sh")
from shardlm import LLM, SamplingParams  # noqa: E402

TEMPLATES = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "chat_templates"

CONVERSATION = [
    {"role": "system", "content": "You answer in one word."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And of Italy? Say \"Rome\" — or not."},
]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                           "parameters": {"type": "object", "properties": {
                                               "city": {"type": "string"}}, "required": ["city"]}}}]


def _folder(tiny_llama_dir, tmp_path, template):
    d = tmp_path / template
    shutil.copytree(tiny_llama_dir, d)
    (d / "chat_template.jinja").write_text((TEMPLATES / f"{template}.jinja").read_text(encoding="utf-8"), encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def tiny_llama_dir(tiny_opt):
    return tiny_opt.parent / "tiny-llama"


@pytest.fixture(scope="module")
def qwen_folder(tiny_llama_dir, tmp_path_factory):
    return _folder(tiny_llama_dir, tmp_path_factory.mktemp("chat"), "qwen2.5-instruct")


@pytest.fixture(scope="module")
def qwen_llm(qwen_folder):
    return LLM(str(qwen_folder), dtype="float32", device="cpu")


@pytest.mark.parametrize("template,kwargs", [
    ("qwen2.5-instruct", {}),
    ("qwen2.5-instruct", {"tools": TOOLS}),
    ("qwen3", {"enable_thinking": False}),
    ("llama-3.2-instruct", {"tools": TOOLS, "date_string": "07 Dec 2026"}),
    ("mistral-7b-instruct-v0.3", {}),
])
def test_apply_chat_template_equals_transformers(tiny_llama_dir, tmp_path, template, kwargs):
    folder = _folder(tiny_llama_dir, tmp_path, template)
    ours = LLM(str(folder), dtype="float32", device="cpu", max_model_len=64).get_tokenizer()
    theirs = transformers.AutoTokenizer.from_pretrained(str(folder))
    conversation = CONVERSATION if template != "mistral-7b-instruct-v0.3" else CONVERSATION[1:]
    for add in (True, False):
        want = theirs.apply_chat_template(conversation, tokenize=False, add_generation_prompt=add, **kwargs)
        assert ours.apply_chat_template(conversation, tokenize=False, add_generation_prompt=add, **kwargs) == want
    want_ids = theirs.apply_chat_template(conversation, tokenize=True, add_generation_prompt=True, **kwargs)
    if isinstance(want_ids, dict) or hasattr(want_ids, "input_ids"):  # transformers 5 may return a BatchEncoding
        want_ids = want_ids["input_ids"]
    assert ours.apply_chat_template(conversation, add_generation_prompt=True, **kwargs) == list(want_ids)


def test_llm_chat_equals_generate_on_the_rendered_prompt(qwen_llm, qwen_folder):
    theirs = transformers.AutoTokenizer.from_pretrained(str(qwen_folder))
    text = theirs.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=True)
    ids = qwen_llm.get_tokenizer().encode(text, add_special_tokens=False)
    params = SamplingParams(temperature=0, max_tokens=8, ignore_eos=True)
    want = qwen_llm.generate([{"prompt_token_ids": ids}], params, use_tqdm=False)[0]
    got = qwen_llm.chat(CONVERSATION, params, use_tqdm=False)[0]
    assert got.outputs[0].token_ids == want.outputs[0].token_ids
    assert got.prompt == text and got.prompt_token_ids == ids
    # Several conversations at once, and text content parts joined with newlines.
    parts = [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
    two = qwen_llm.chat([CONVERSATION, parts], params, use_tqdm=False)
    assert two[0].outputs[0].token_ids == want.outputs[0].token_ids
    assert two[1].prompt == qwen_llm.get_tokenizer().apply_chat_template(
        [{"role": "user", "content": "a\nb"}], tokenize=False, add_generation_prompt=True)


def test_chat_errors(qwen_llm, tiny_llama_dir, tmp_path):
    llama2 = LLM(str(_folder(tiny_llama_dir, tmp_path, "llama-2-chat")), dtype="float32", device="cpu", max_model_len=64)
    with pytest.raises(ValueError, match="alternate"):  # the template's own raise_exception message
        llama2.chat([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], use_tqdm=False)
    bare = LLM(str(tiny_llama_dir), dtype="float32", device="cpu", max_model_len=64)
    with pytest.raises(ValueError, match="no chat template"):
        bare.chat([{"role": "user", "content": "hi"}], use_tqdm=False)
    assert "hi!" in bare.get_tokenizer().apply_chat_template(
        [{"role": "user", "content": "hi"}], chat_template="{{ messages[0].content }}!", tokenize=False)
    with pytest.raises(ValueError, match="cannot both"):
        qwen_llm.chat(CONVERSATION, add_generation_prompt=True, continue_final_message=True, use_tqdm=False)
    with pytest.raises(ValueError, match="text parts"):
        qwen_llm.chat([{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}], use_tqdm=False)


def test_chat_completions_endpoint_matches_llm_chat(qwen_folder, qwen_llm):
    from serving import start_server

    params = SamplingParams(temperature=0, max_tokens=8, ignore_eos=True, logprobs=2)
    want = qwen_llm.chat(CONVERSATION, params, use_tqdm=False)[0].outputs[0]
    proc, url = start_server(qwen_folder)
    try:
        client = openai.OpenAI(base_url=url, api_key="unused")
        out = client.chat.completions.create(model="tiny", messages=CONVERSATION, max_completion_tokens=8,
                                             temperature=0, logprobs=True, top_logprobs=2,
                                             extra_body={"ignore_eos": True})
        choice = out.choices[0]
        assert choice.message.role == "assistant" and choice.message.content == want.text
        assert choice.finish_reason == "length" and out.usage.completion_tokens == 8
        assert len(choice.logprobs.content) == 8 and all(len(t.top_logprobs) == 2 for t in choice.logprobs.content)
        assert choice.logprobs.content[0].top_logprobs[0].logprob >= choice.logprobs.content[0].top_logprobs[1].logprob
        # The values are LLM.chat's: each sampled token's logprob and its two most likely alternatives.
        for got, tok, ref in zip(choice.logprobs.content, want.token_ids, want.logprobs):
            assert abs(got.logprob - ref[tok].logprob) < 1e-4
            top = sorted(ref.values(), key=lambda lp: lp.rank)[:2]
            assert [abs(t.logprob - r.logprob) < 1e-4 for t, r in zip(got.top_logprobs, top)] == [True, True]
        stream = client.chat.completions.create(model="tiny", messages=CONVERSATION, max_tokens=8, temperature=0,
                                                stream=True, extra_body={"ignore_eos": True})
        chunks = [c for c in stream]
        assert chunks[0].choices[0].delta.role == "assistant"
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == want.text
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model="tiny", messages=[{"role": "user"}], tool_choice="auto", tools=TOOLS)
        assert "tool" in str(e.value)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
