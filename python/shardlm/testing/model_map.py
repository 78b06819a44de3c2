"""Which local model stands in for a Hugging Face model id that one of vLLM's tests names.

vLLM's tests download real checkpoints (distilbert/distilgpt2, meta-llama/Llama-3.2-1B-Instruct, ...); run
against shardlm they use the project's fixtures (../shared/fixtures, or $SHARDLM_FIXTURES) instead, chosen by
what the test needs of the model, first matching rule wins:

| id matches            | stands in                                                                        | because |
|-----------------------|-----------------------------------------------------------------------------------|---------|
| `opt-350m`            | `stories260K`, positions raised to 4096                                           | the tests naming it (test_stop_reason) need a trained model that ends sentences with "." |
| `opt-`                | `tiny-opt`                                                                        | the same architecture and tokenizer |
| `llama-3`, `llama3`   | `chat-llama3`: a random Llama (make-model llama-tiny) with tokenizers/llama3's files | a Llama 3 tokenizer and chat template |
| `qwen`                | `chat-qwen3`: the same with tokenizers/qwen3's files                              | Qwen's chat template (tools, thinking) |
| `mistral`             | `chat-mistral-v03`: the same with tokenizers/mistral-v03's files                  | Mistral's chat template |
| anything else         | `tiny-llama`, positions raised to 4096                                             | a small model whose context fits vLLM's test lengths (512 new tokens after a prompt) |

"Positions raised": the fixture's weights (linked, not copied) with max_position_embeddings 4096 in config.json;
rotary positions extend past the trained length (learned OPT positions could not). Made folders live in
$SHARDLM_VLLM_MODELS (default: <tmp>/shardlm-vllm-models) and are made once. $SHARDLM_VLLM_MODEL_MAP
("id=fixture-or-folder,id2=...") adds exact ids ahead of the rules.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

LONG_POSITIONS = 4096

# (regex searched case-insensitively in the id, stand-in name)
RULES = (
    (r"opt-350m", "stories260K-long"),
    (r"(^|/)opt-", "tiny-opt"),
    (r"llama-?3", "chat-llama3"),
    (r"qwen", "chat-qwen3"),
    (r"mistral", "chat-mistral-v03"),
    (r".", "tiny-llama-long"),
)

# Organisations on the Hugging Face hub whose ids vLLM's tests and examples name; a string literal "org/name"
# with one of these is a model id (others, such as "text/plain", are left alone).
HUB_ORGS = (
    "facebook", "meta-llama", "distilbert", "openai-community", "gpt2", "TinyLlama", "Qwen", "mistralai",
    "hmellor", "google", "microsoft", "gg-hf-g", "HuggingFaceTB", "HuggingFaceH4", "EleutherAI", "ibm-granite",
    "ibm-research", "deepseek-ai", "JackFram", "bigscience", "nm-testing", "RedHatAI", "neuralmagic", "unsloth",
    "huggyllama", "lmsys", "NousResearch", "stabilityai", "tiiuae", "allenai", "Snowflake", "ai21labs",
)


def fixtures_dir():
    env = os.environ.get("SHARDLM_FIXTURES")
    if env:
        return pathlib.Path(env).resolve()
    here = pathlib.Path(__file__).resolve()
    for parent in here.parents:  # the repository's ../shared/fixtures, from the source or the build tree
        candidate = parent.parent / "shared" / "fixtures"
        if (parent / ".git").exists() and candidate.is_dir():
            return candidate
    raise FileNotFoundError("shardlm.testing: set SHARDLM_FIXTURES to the fixtures folder (../shared/fixtures)")


def models_dir():
    return pathlib.Path(os.environ.get("SHARDLM_VLLM_MODELS") or pathlib.Path(tempfile.gettempdir()) / "shardlm-vllm-models")


def is_model_id(text):
    """Whether a string literal is a hub model id this module maps ("org/name" with a known org)."""
    org, sep, name = text.partition("/")
    return bool(sep) and org in HUB_ORGS and re.fullmatch(r"[\w.-]+", name) is not None


def _user_map():
    out = {}
    for item in filter(None, os.environ.get("SHARDLM_VLLM_MODEL_MAP", "").split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"SHARDLM_VLLM_MODEL_MAP: {item!r} is not id=fixture")
        out[key.strip()] = value.strip()
    return out


def stand_in_name(model_id):
    """The stand-in's name (a fixture folder or one of the made ones above) or a folder from the user's map."""
    user = _user_map()
    if model_id in user:
        return user[model_id]
    for pattern, name in RULES:
        if re.search(pattern, model_id, re.IGNORECASE):
            return name
    raise AssertionError("the last rule matches every id")


def resolve(model):
    """A model id from one of vLLM's tests -> the path of its local stand-in (made on first use). Existing
    folders are returned as they are."""
    if os.path.isdir(model):
        return str(model)
    return str(_materialize(stand_in_name(model)))


def _materialize(name):
    fixtures = fixtures_dir()
    if os.path.isdir(name):
        return pathlib.Path(name)
    if (fixtures / "models" / name).is_dir():
        return fixtures / "models" / name
    out = models_dir() / name
    if (out / "config.json").is_file():
        return out
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=name + ".", dir=_mkdir(models_dir())))
    if name.endswith("-long"):
        _long_positions(fixtures / "models" / name[: -len("-long")], tmp)
    elif name.startswith("chat-"):
        _chat_model(fixtures / "tokenizers" / name[len("chat-"):], tmp)
    else:
        raise FileNotFoundError(f"shardlm.testing: no fixture or stand-in named {name!r} (fixtures: {fixtures})")
    try:
        tmp.rename(out)  # atomic: a concurrent maker's folder wins, this one is dropped
    except OSError:
        shutil.rmtree(tmp)
    return out


def _mkdir(path):
    path.mkdir(parents=True, exist_ok=True)
    return path


def _long_positions(src, dst):
    if not src.is_dir():
        raise FileNotFoundError(f"shardlm.testing: fixture {src} is missing")
    for f in src.iterdir():
        if f.name != "config.json" and f.is_file():
            (dst / f.name).symlink_to(f)
    config = json.loads((src / "config.json").read_text())
    config["max_position_embeddings"] = LONG_POSITIONS
    (dst / "config.json").write_text(json.dumps(config, indent=2))


def shardlm_binary():
    """The `shardlm` command: $SHARDLM_BIN, the wheel's shardlm/bin/shardlm, the build tree's bin/shardlm or PATH."""
    package = pathlib.Path(__file__).resolve().parents[1]
    for candidate in (os.environ.get("SHARDLM_BIN"), package / "bin" / "shardlm", package.parents[1] / "bin" / "shardlm",
                      shutil.which("shardlm")):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    raise FileNotFoundError("shardlm.testing: the shardlm command was not found (set SHARDLM_BIN)")


def _chat_model(tokenizer_dir, dst):
    """A random tiny Llama whose vocabulary is the tokenizer's, with that tokenizer's files and special ids."""
    tok_files = [f for f in tokenizer_dir.iterdir() if f.name.startswith(("tokenizer", "special_tokens"))]
    tok_config = json.loads((tokenizer_dir / "tokenizer_config.json").read_text())
    vocab = json.loads((tokenizer_dir / "tokenizer.json").read_text())
    ids = {t["content"]: t["id"] for t in vocab.get("added_tokens", [])}
    ids.update({k: v for k, v in vocab["model"]["vocab"].items()} if isinstance(vocab["model"].get("vocab"), dict) else {})
    vocab_size = max(ids.values()) + 1
    subprocess.run([shardlm_binary(), "make-model", "--preset", "llama-tiny", "--out", str(dst), "--force",
                    "--vocab-size", str(vocab_size), "--max-position-embeddings", str(LONG_POSITIONS)],
                   check=True, stdout=subprocess.DEVNULL)
    for f in dst.iterdir():
        if f.name.startswith(("tokenizer", "special_tokens")):
            f.unlink()
    for f in tok_files:
        shutil.copy(f, dst / f.name)

    def token_id(key):
        token = tok_config.get(key)
        token = token.get("content") if isinstance(token, dict) else token
        return ids.get(token) if token else None

    bos, eos = token_id("bos_token"), token_id("eos_token")
    for file in ("config.json", "generation_config.json"):
        config = json.loads((dst / file).read_text())
        config["bos_token_id"], config["eos_token_id"] = bos, eos
        (dst / file).write_text(json.dumps(config, indent=2))
