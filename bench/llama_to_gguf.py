#!/usr/bin/env python3
"""Converts a Hugging Face Llama checkpoint folder (model.safetensors + config.json + tokenizer.json, as
`shardlm make-model --preset llama-125m` writes) to a GGUF file that llama.cpp loads, in F16 or F32.

llama.cpp's own convert_hf_to_gguf.py needs torch; this does the same for the plain Llama layout with the
`gguf` package and numpy only: the same tensor names, the same Q/K row permutation (Hugging Face stores
rotate-half rotary pairs, GGUF the interleaved ones), the same metadata keys, and the byte-level BPE
vocabulary with its merges ("gpt2" tokenizer model).

usage: llama_to_gguf.py MODEL_DIR OUT.gguf --outtype f16|f32
"""
import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np
import gguf

_ST_DTYPES = {"F16": np.float16, "F32": np.float32}


def read_safetensors(path):
    """{name: numpy array} from one .safetensors file (F16/F32 tensors)."""
    data = Path(path).read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _ST_DTYPES:
            sys.exit(f"{path}: tensor {name} has dtype {info['dtype']}; only F16 and F32 are supported")
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[base + begin : base + end], dtype=_ST_DTYPES[info["dtype"]]).reshape(
            info["shape"]
        )
    return out


def permute_qk(w, n_head, n_head_kv):
    """Rotate-half row order (Hugging Face) -> interleaved pairs (GGUF / Meta), as convert_hf_to_gguf.py."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("out")
    ap.add_argument("--outtype", choices=["f16", "f32"], required=True)
    args = ap.parse_args()
    d = Path(args.model_dir)
    cfg = json.loads((d / "config.json").read_text())
    if cfg.get("architectures") != ["LlamaForCausalLM"]:
        sys.exit(f"{d}/config.json: architectures is {cfg.get('architectures')}, expected ['LlamaForCausalLM']")
    tensors = {}
    for f in sorted(d.glob("*.safetensors")):
        tensors.update(read_safetensors(f))

    n_layer = cfg["num_hidden_layers"]
    n_head = cfg["num_attention_heads"]
    n_head_kv = cfg.get("num_key_value_heads", n_head)
    hidden = cfg["hidden_size"]
    head_dim = cfg.get("head_dim", hidden // n_head)
    out_dtype = np.float16 if args.outtype == "f16" else np.float32

    w = gguf.GGUFWriter(args.out, "llama")
    w.add_name(d.name)
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(hidden)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(float(cfg.get("rope_theta", 10000.0)))
    w.add_layer_norm_rms_eps(float(cfg.get("rms_norm_eps", 1e-6)))
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if args.outtype == "f16" else gguf.LlamaFileType.ALL_F32)

    # Vocabulary: byte-level BPE from tokenizer.json, ids in order, with merges.
    tok = json.loads((d / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    added = {t["id"]: t for t in tok.get("added_tokens", [])}
    n_vocab = cfg["vocab_size"]
    id_to_tok = {i: t for t, i in vocab.items()}
    for i, t in added.items():
        id_to_tok[i] = t["content"]
    tokens, types = [], []
    for i in range(n_vocab):
        t = id_to_tok.get(i, f"[PAD{i}]")
        tokens.append(t)
        types.append(gguf.TokenType.CONTROL if i in added and added[i].get("special") else gguf.TokenType.NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"].get("merges", [])]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")  # the GPT-2 split regex, as the ByteLevel pre-tokenizer with use_regex
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    if cfg.get("bos_token_id") is not None:
        w.add_bos_token_id(cfg["bos_token_id"])
    tok_cfg = d / "tokenizer_config.json"
    if tok_cfg.exists() and json.loads(tok_cfg.read_text()).get("add_bos_token"):
        w.add_add_bos_token(True)  # llama.cpp's gpt2-type vocabularies add no BOS unless told
    if cfg.get("eos_token_id") is not None:
        eos = cfg["eos_token_id"]
        w.add_eos_token_id(eos[0] if isinstance(eos, list) else eos)

    def put(name, arr, keep_f32=False):
        arr = np.ascontiguousarray(arr.astype(np.float32 if keep_f32 else out_dtype))
        w.add_tensor(name, arr)

    put("token_embd.weight", tensors["model.embed_tokens.weight"])
    for l in range(n_layer):
        p = f"model.layers.{l}."
        put(f"blk.{l}.attn_norm.weight", tensors[p + "input_layernorm.weight"], keep_f32=True)
        put(f"blk.{l}.attn_q.weight", permute_qk(tensors[p + "self_attn.q_proj.weight"], n_head, n_head))
        put(f"blk.{l}.attn_k.weight", permute_qk(tensors[p + "self_attn.k_proj.weight"], n_head, n_head_kv))
        put(f"blk.{l}.attn_v.weight", tensors[p + "self_attn.v_proj.weight"])
        put(f"blk.{l}.attn_output.weight", tensors[p + "self_attn.o_proj.weight"])
        put(f"blk.{l}.ffn_norm.weight", tensors[p + "post_attention_layernorm.weight"], keep_f32=True)
        put(f"blk.{l}.ffn_gate.weight", tensors[p + "mlp.gate_proj.weight"])
        put(f"blk.{l}.ffn_up.weight", tensors[p + "mlp.up_proj.weight"])
        put(f"blk.{l}.ffn_down.weight", tensors[p + "mlp.down_proj.weight"])
    put("output_norm.weight", tensors["model.norm.weight"], keep_f32=True)
    if "lm_head.weight" in tensors:
        put("output.weight", tensors["lm_head.weight"])

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {args.out} ({args.outtype}, {len(tokens)} tokens, {n_layer} layers)")


if __name__ == "__main__":
    main()
