"""Writes the seed corpus of each fuzz target (tests/fuzz/corpus/<target>/): small valid inputs made by the
libraries that write these formats (torch.save, pickle, json, the tokenizers library), and the hostile shapes
issue #19 found (deep nesting, huge ids, overlapping offsets). Run from anywhere with the project's venv:
  .venv/bin/python tests/fuzz/make_seeds.py"""

import io
import json
import pathlib
import pickle
import struct
import zipfile

import torch

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def safetensors(header, payload=b""):
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + payload


# json
put("json", "config", json.dumps({"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "rope_theta": 10000.0,
                                  "rope_scaling": {"type": "linear", "factor": 2.0}, "eos_token_id": [1, 2]}))
put("json", "deep", "[" * 5000 + "]" * 5000)
put("json", "long_value", json.dumps({"k": "x" * 20000}))
put("json", "bad", '{"a": [1, 2,, 3]}')

# safetensors
put("safetensors", "two_tensors", safetensors(
    {"__metadata__": {"format": "pt"}, "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
     "b": {"dtype": "BF16", "shape": [3], "data_offsets": [16, 22]}}, bytes(22)))
put("safetensors", "overlap", safetensors(
    {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2],
                                                                        "data_offsets": [4, 12]}}, bytes(12)))
put("safetensors", "huge_shape", safetensors({"a": {"dtype": "F16", "shape": [2**40, 2**40], "data_offsets": [0, 2]}},
                                             bytes(2)))
put("safetensors", "bad_length", struct.pack("<Q", 2**62) + b"{}")

# torch_zip: torch.save of a small state dict, and the same with a view sharing one storage
buf = io.BytesIO()
w = torch.arange(6, dtype=torch.float32).reshape(2, 3)
torch.save({"w": w, "b": torch.ones(3, dtype=torch.bfloat16), "v": w[1]}, buf)
put("torch_zip", "state_dict", buf.getvalue())
with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
    names = z.namelist()
    pkl = z.read([n for n in names if n.endswith("data.pkl")][0])

# pickle: torch's data.pkl, and plain pickles of every protocol
put("pickle", "torch_data_pkl", pkl)
value = {"a": [1, 2.5, "s", b"b", None, True, (1, 2), {"n": -7}], "big": 2**70, "neg": -(2**40)}
for proto in range(0, pickle.HIGHEST_PROTOCOL + 1):
    put("pickle", f"protocol{proto}", pickle.dumps(value, protocol=proto))
shared = [1, 2]
put("pickle", "memo", pickle.dumps([shared, shared, {"x": shared}], protocol=2))

# tokenizer_json: a tiny byte-level BPE made by the tokenizers library, and a WordPiece-free Unigram-free case
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors  # noqa: E402

bpe = Tokenizer(models.BPE(vocab={"h": 0, "e": 1, "l": 2, "o": 3, "he": 4, "ll": 5, "Ġ": 6, "<s>": 7},
                           merges=[("h", "e"), ("l", "l")]))
bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
bpe.decoder = decoders.ByteLevel()
bpe.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 7)])
bpe.add_special_tokens(["<s>"])
put("tokenizer_json", "byte_level_bpe", bpe.to_str())
huge = json.loads(bpe.to_str())
huge["added_tokens"].append({"id": 2**31 - 1, "content": "<big>", "single_word": False, "lstrip": False,
                             "rstrip": False, "normalized": False, "special": True})
put("tokenizer_json", "huge_added_id", json.dumps(huge))
