#!/usr/bin/env python3
"""Developer script (not run by the tests): builds the small random-weight Llama-family checkpoints under
tests/data/llama_family/ with Hugging Face transformers and writes their golden outputs.

Each variant folder gets config.json, generation_config.json, model.safetensors (save_pretrained), golden.json
and golden_logits.safetensors in the format of ../shared/fixtures/models/tiny-llama:
  golden.json: {transformers, torch, note, prompts: [{prompt_token_ids, greedy_token_ids (24), greedy_logprobs,
               top1_logit, top1_minus_top2}]}
  golden_logits.safetensors: last_logits_i [vocab] (last prompt position of prompt i), prefill_logits_0/1
               [len, vocab] (every position of prompts 0 and 1). F32.

Golden numerics follow the shared fixtures: fp32 arithmetic on the fp16/bf16 weights as stored, eager
attention, full recompute every step (no KV cache). The fixtures' goldens also carry rotary inverse frequencies
rounded to the checkpoint dtype: their model object had been cast to fp16 (`model.to(dtype)` casts the
inv_freq buffer) before being upcast with `.float()`. `from_pretrained(dtype=...)` alone keeps the buffer in
f32 (checked with transformers 5.17 and 5.24), so we cast the loaded model to the checkpoint dtype once
before upcasting; that reproduces the fixtures' tiny-llama goldens to 4.6e-7 (relative, last logits), where
from_pretrained alone gets 1.2e-4.

The vocabulary is 512 (500 for qwen2-bias) so that ../shared/fixtures/models/stories260K's tokenizer can serve
these models.

Usage (a throwaway venv with torch; see tests/data/llama_family/README.md for the exact command):
  python scripts/dev/make_llama_family_goldens.py [--out tests/data/llama_family] [--only NAME ...]
  python scripts/dev/make_llama_family_goldens.py --verify   # recompute goldens from the committed files
  python scripts/dev/make_llama_family_goldens.py --fixture-evidence  # the inv_freq rounding, on tiny-llama
"""
import argparse
import json
import math
import os
import sys

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM

VOCAB = 512
NUM_PROMPTS_LENGTHS = [3, 7, 12, 20]  # as the shared fixtures
NEW_TOKENS = 24

# Common small shape; variants override fields. Values are written to config.json through the transformers
# config class, then (for "v4" variants) rewritten into the transformers v4 spelling.
BASE = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5,
            bos_token_id=1, eos_token_id=2, tie_word_embeddings=False, rope_theta=10000.0)

LLAMA3_SCALING = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                  "original_max_position_embeddings": 64}

VARIANTS = [
    # a. Llama 3.1-style rope scaling, config in the v4 spelling (torch_dtype, rope_theta, rope_scaling with
    #    "rope_type"), and Llama-2-era omissions: no num_key_value_heads (MHA), no head_dim.
    dict(name="llama3-rope-old-spelling", arch="LlamaForCausalLM", dtype=torch.bfloat16, seed=101, spelling="v4",
         rope={"rope_type": "llama3", **LLAMA3_SCALING}, num_key_value_heads=4,
         drop_keys=["num_key_value_heads", "head_dim"], tp=[2, 4]),
    #    The same scaling written with the older "type" key, GQA, and Llama 3.1's own rope settings and context
    #    length (theta 500000, 8192 -> 131072 positions).
    dict(name="llama3-rope-type-key", arch="LlamaForCausalLM", dtype=torch.bfloat16, seed=102, spelling="v4",
         rope={"type": "llama3", **LLAMA3_SCALING, "original_max_position_embeddings": 8192}, rope_theta=500000.0,
         max_position_embeddings=131072, tp=[2]),
    # b. Tied embeddings (no lm_head.weight stored), one KV head (MQA), head_dim 32 != hidden / heads (16).
    dict(name="llama-tied-mqa", arch="LlamaForCausalLM", dtype=torch.float16, seed=103, spelling="v5",
         tie_word_embeddings=True, num_key_value_heads=1, head_dim=32, tp=[2, 4]),
    # c. Qwen2: q/k/v biases (o_proj none), tied, v4 spelling as Qwen2.5 checkpoints ship (sliding window off);
    #    a vocabulary of 500 (not a multiple of 64) so the tied embedding / LM head shards carry padding rows.
    dict(name="qwen2-bias", arch="Qwen2ForCausalLM", dtype=torch.bfloat16, seed=104, spelling="v4",
         tie_word_embeddings=True, rope_theta=1000000.0, rms_norm_eps=1e-6, use_sliding_window=False,
         sliding_window=4096, max_window_layers=2, vocab_size=500, tp=[2, 4]),
    # d. Qwen3: per-head RMSNorm on q and k, head_dim 32, GQA, tied.
    dict(name="qwen3-qknorm", arch="Qwen3ForCausalLM", dtype=torch.bfloat16, seed=105, spelling="v5",
         tie_word_embeddings=True, head_dim=32, rope_theta=1000000.0, rms_norm_eps=1e-6, tp=[2]),
    # e. Mistral: sliding window far beyond the test lengths; 8 heads of 8, 2 KV heads.
    dict(name="mistral", arch="MistralForCausalLM", dtype=torch.float16, seed=106, spelling="v4",
         num_attention_heads=8, num_key_value_heads=2, sliding_window=4096, tp=[2, 4]),
    # f. Other rope scalings; the linear one also has attention and MLP biases.
    dict(name="llama-linear-rope", arch="LlamaForCausalLM", dtype=torch.float16, seed=107, spelling="v5",
         rope={"rope_type": "linear", "factor": 2.0}, attention_bias=True, mlp_bias=True, tp=[2]),
    #    Dynamic NTK: transformers scales only beyond max_position_embeddings (never within it) and ignores an
    #    original_max_position_embeddings in the scaling dict, so this must equal the default rope.
    dict(name="llama-dynamic-rope", arch="LlamaForCausalLM", dtype=torch.float16, seed=108, spelling="v4",
         rope={"type": "dynamic", "factor": 2.0, "original_max_position_embeddings": 32}, tp=[2]),
    dict(name="llama-yarn-rope", arch="LlamaForCausalLM", dtype=torch.float16, seed=109, spelling="v5",
         rope={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32},
         max_position_embeddings=128, tp=[2]),
    # g. Six heads over three KV heads (hidden 96): TP=3 splits both.
    dict(name="llama-6head-kv3", arch="LlamaForCausalLM", dtype=torch.float16, seed=110, spelling="v5",
         hidden_size=96, intermediate_size=192, num_attention_heads=6, num_key_value_heads=3, tp=[3]),
]

CONFIG_ONLY_KEYS = {"name", "arch", "dtype", "seed", "spelling", "rope", "drop_keys", "tp"}


def config_class(arch):
    return {"LlamaForCausalLM": transformers.LlamaConfig, "MistralForCausalLM": transformers.MistralConfig,
            "Qwen2ForCausalLM": transformers.Qwen2Config, "Qwen3ForCausalLM": transformers.Qwen3Config}[arch]


def build_config(v):
    fields = dict(BASE)
    fields.update({k: val for k, val in v.items() if k not in CONFIG_ONLY_KEYS})
    theta = fields.pop("rope_theta")
    rope = {"rope_theta": theta, "rope_type": "default"}
    if "rope" in v:
        rope.update(v["rope"])
        rope["rope_type"] = v["rope"].get("rope_type", v["rope"].get("type"))
        rope.pop("type", None)
    cfg = config_class(v["arch"])(rope_parameters=rope, **fields)
    cfg.architectures = [v["arch"]]
    return cfg


def randomize_(model, seed):
    # transformers initialises norms to 1 and biases to 0, which would leave their loading untested; draw
    # every parameter instead. Embeddings are wider so that greedy margins are mostly well above 1e-2.
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name or "lm_head" in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


def to_v4_spelling(cfg_json, v):
    """transformers v4 wrote `torch_dtype` and a top-level `rope_theta` + `rope_scaling` (null by default)."""
    out = {}
    for k, val in cfg_json.items():
        if k == "dtype":
            out["torch_dtype"] = val
        elif k == "rope_parameters":
            out["rope_theta"] = val["rope_theta"]
            out["rope_scaling"] = dict(v["rope"]) if "rope" in v else None  # keeps "type" vs "rope_type"
        elif k in v.get("drop_keys", []):
            continue
        else:
            out[k] = val
    return out


def prompts_for(v):
    g = torch.Generator().manual_seed(v["seed"] * 1000 + 7)
    vocab = v.get("vocab_size", VOCAB)
    return [torch.randint(3, vocab, (n,), generator=g).tolist() for n in NUM_PROMPTS_LENGTHS]


def load_for_goldens(folder, dtype, round_rope_buffers=True):
    m = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, attn_implementation="eager")
    if round_rope_buffers:
        m.to(dtype)  # weights unchanged; the f32 inv_freq buffers get rounded to the checkpoint dtype
    return m.float().eval()


@torch.no_grad()
def greedy_goldens(model, prompts):
    entries, logits = [], {}
    for i, prompt in enumerate(prompts):
        seq = list(prompt)
        e = dict(prompt_token_ids=list(prompt), greedy_token_ids=[], greedy_logprobs=[], top1_logit=[],
                 top1_minus_top2=[])
        for t in range(NEW_TOKENS):
            out = model(torch.tensor([seq]), use_cache=False).logits[0].float()
            last = out[-1]
            if t == 0:
                logits[f"last_logits_{i}"] = last.clone().contiguous()
                if i < 2:
                    logits[f"prefill_logits_{i}"] = out.clone().contiguous()
            top2 = torch.topk(last, 2)
            tok = int(torch.argmax(last))
            e["greedy_token_ids"].append(tok)
            e["greedy_logprobs"].append(float(torch.log_softmax(last.double(), -1)[tok]))
            e["top1_logit"].append(float(top2.values[0]))
            e["top1_minus_top2"].append(float(top2.values[0] - top2.values[1]))
            seq.append(tok)
        entries.append(e)
    return entries, logits


@torch.no_grad()
def last_logits(model, prompts):
    return [model(torch.tensor([p]), use_cache=False).logits[0, -1].float() for p in prompts]


def rel(a, b):
    return float((a - b).norm() / b.norm())


def check_rope_loaded(model, v):
    want = v.get("rope", {}).get("rope_type", v.get("rope", {}).get("type", "default"))
    got = model.config.rope_parameters["rope_type"]
    if got != want:
        sys.exit(f"{v['name']}: transformers read rope_type {got!r}, expected {want!r}")


def make_variant(v, out_root):
    folder = os.path.join(out_root, v["name"])
    os.makedirs(folder, exist_ok=True)
    cfg = build_config(v)
    torch.manual_seed(v["seed"])
    model = getattr(transformers, v["arch"])(cfg)
    randomize_(model, v["seed"])
    model.to(v["dtype"])
    model.save_pretrained(folder)
    if v["spelling"] == "v4":
        path = os.path.join(folder, "config.json")
        with open(path) as f:
            cj = json.load(f)
        with open(path, "w") as f:
            json.dump(to_v4_spelling(cj, v), f, indent=2, sort_keys=True)
            f.write("\n")
    return folder


def write_goldens(v, folder):
    prompts = prompts_for(v)
    model = load_for_goldens(folder, v["dtype"])
    check_rope_loaded(model, v)
    entries, logits = greedy_goldens(model, prompts)
    golden = dict(transformers=transformers.__version__, torch=torch.__version__, prompts=entries,
                  note="fp32 math on the weights stored in model.safetensors (loaded in their dtype, model cast to "
                       "that dtype so the rotary inv_freq buffer is rounded to it as in the shared fixtures, then "
                       "upcast); eager attention; greedy = argmax of full recompute, no KV cache")
    with open(os.path.join(folder, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    save_file(logits, os.path.join(folder, "golden_logits.safetensors"))
    return prompts, entries, logits


def sensitivity(v, folder, prompts, logits):
    """How far the goldens are from two plausible mistakes: f32 (unrounded) inv_freq, and no rope scaling."""
    ref = [logits[f"last_logits_{i}"] for i in range(len(prompts))]
    unrounded = last_logits(load_for_goldens(folder, v["dtype"], round_rope_buffers=False), prompts)
    s = dict(unrounded_inv_freq=max(rel(a, b) for a, b in zip(unrounded, ref)))
    if "rope" in v:
        plain = dict(v)
        plain.pop("rope")
        cfg = build_config(plain)
        m = AutoModelForCausalLM.from_pretrained(folder, config=cfg, dtype=v["dtype"], attn_implementation="eager")
        m = m.to(v["dtype"]).float().eval()
        s["no_rope_scaling"] = max(rel(a, b) for a, b in zip(last_logits(m, prompts), ref))
    return s


def near_tie_step(entry):
    for t, margin in enumerate(entry["top1_minus_top2"]):
        if margin < 1e-2:
            return t
    return len(entry["top1_minus_top2"])


def verify(v, folder):
    """Recomputes the goldens from the committed files (e.g. under another transformers version)."""
    with open(os.path.join(folder, "golden.json")) as f:
        golden = json.load(f)
    stored = load_file(os.path.join(folder, "golden_logits.safetensors"))
    prompts = [p["prompt_token_ids"] for p in golden["prompts"]]
    model = load_for_goldens(folder, v["dtype"])
    check_rope_loaded(model, v)
    entries, logits = greedy_goldens(model, prompts)
    worst = max(rel(logits[k], stored[k]) for k in stored)
    same = all(a["greedy_token_ids"] == b["greedy_token_ids"] for a, b in zip(entries, golden["prompts"]))
    print(f"{v['name']:28s} logits rel err vs committed {worst:.2e}  greedy tokens identical: {same}")
    return worst < 1e-5 and same


def fixture_evidence(fixtures):
    """Which golden recipe reproduces the shared fixtures' tiny-llama goldens (fp16 checkpoint)."""
    folder = os.path.join(fixtures, "models", "tiny-llama")
    with open(os.path.join(folder, "golden.json")) as f:
        prompts = [p["prompt_token_ids"] for p in json.load(f)["prompts"]]
    stored = load_file(os.path.join(folder, "golden_logits.safetensors"))
    for cast in (False, True):
        got = last_logits(load_for_goldens(folder, torch.float16, round_rope_buffers=cast), prompts)
        errs = [rel(g, stored[f"last_logits_{i}"]) for i, g in enumerate(got)]
        print(f"inv_freq {'rounded to fp16' if cast else 'left in f32   '}: last-logits rel err "
              + " ".join(f"{e:.1e}" for e in errs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "..", "tests", "data", "llama_family"))
    ap.add_argument("--only", nargs="*", help="variant names")
    ap.add_argument("--verify", action="store_true", help="recompute and compare with the committed goldens")
    ap.add_argument("--fixture-evidence", action="store_true", help="inv_freq rounding vs the shared fixtures")
    ap.add_argument("--fixtures", default=os.path.join(here, "..", "..", "..", "shared", "fixtures"))
    args = ap.parse_args()
    torch.set_num_threads(1)  # deterministic reductions
    if args.fixture_evidence:
        fixture_evidence(args.fixtures)
        return 0
    variants = [v for v in VARIANTS if not args.only or v["name"] in args.only]
    ok = True
    for v in variants:
        folder = os.path.join(args.out, v["name"])
        if args.verify:
            ok &= verify(v, folder)
            continue
        make_variant(v, args.out)
        prompts, entries, logits = write_goldens(v, folder)
        s = sensitivity(v, folder, prompts, logits)
        size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
        ties = [near_tie_step(e) for e in entries]
        print(f"{v['name']:28s} {size / 1024:6.0f} KiB  steps before first near-tie {ties}  "
              + "  ".join(f"{k} {val:.1e}" for k, val in s.items()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
