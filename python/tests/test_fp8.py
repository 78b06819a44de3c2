"""FP8 weights: the e4m3 conversion against torch's float8_e4m3fn, FP8 checkpoints built with torch (the
compressed-tensors and fine-grained layouts) and by `shardlm make-model`, quantize-at-load, their errors, TP=2
against TP=1, and the FP8 model against its floating source on the fixtures.

Tolerance of FP8 against the source (CPU reference, activations quantised per token as on the GPU), measured
on the tiny-llama fixture's golden prompts with 16 greedy tokens each: see FP8_* below and docs/architecture.md.
"""

import json
import shutil
import subprocess
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

import shardlm
from shardlm import LLM, SamplingParams
from conftest import FIXTURES, require_binary, require_fixtures, subprocess_env

TINY_LLAMA = FIXTURES / "models" / "tiny-llama"
MAX_TOKENS = 16
# Measured on the CPU reference (f32, activations quantised as the GPU does), tiny-llama's 4 golden prompts,
# 16 greedy tokens each, against the f32 source: greedy agreement (tokens equal up to each prompt's first
# divergence) 0.19 per-tensor, 0.17 per-channel, 0.41 with 4x4 blocks; largest logprob error of the tokens both
# chose 0.13 / 0.13 / 0.11. The fixture is a random-weight model with nearly flat logits (logprobs near -7.9,
# top tokens a few hundredths apart), so FP8's ~3% relative weight error flips greedy choices early; the bars
# catch a broken scale (orientation, block mapping, inverse), which sends both far off, not FP8's own error.
FP8_MIN_AGREEMENT = 0.1
FP8_MAX_LOGPROB_ERROR = 0.2


def _native_module():
    import importlib

    return importlib.import_module("shardlm._shardlm")


# ---- the conversion -------------------------------------------------------------------------------------


def test_all_256_codes_decode_as_torch_does():
    codes = np.arange(256, dtype=np.uint8)
    ours = np.frombuffer(_native_module()._fp8_e4m3_to_f32(codes.tobytes()), dtype=np.float32)
    ref = torch.from_numpy(codes.copy()).view(torch.float8_e4m3fn).float().numpy()
    nan = np.isnan(ref)
    assert np.array_equal(np.isnan(ours), nan)
    assert nan.sum() == 2  # 0x7f and 0xff
    assert np.array_equal(ours[~nan].view(np.uint32), ref[~nan].view(np.uint32))  # bitwise, so -0.0 too


def test_f32_values_encode_as_torch_does():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2**32, size=400_000, dtype=np.uint64).astype(np.uint32)
    random_bits = bits.view(np.float32)
    # Values around every representable one: the exact midpoints (ties to even), and just off them.
    grid = torch.arange(256, dtype=torch.uint8).view(torch.float8_e4m3fn).float().numpy()
    grid = np.unique(grid[np.isfinite(grid)])
    mids = (grid[:-1] + grid[1:]) / 2
    near = np.concatenate([mids, np.nextafter(mids, np.inf), np.nextafter(mids, -np.inf), grid])
    special = np.array([0.0, -0.0, 448.0, 449.0, 464.0, 465.0, 480.0, 1e30, np.inf, -np.inf, np.nan,
                        2.0**-9, 2.0**-10, 1.5 * 2.0**-10, 2.0**-6, 1e-45, -1e-45], dtype=np.float32)
    values = np.concatenate([random_bits, near.astype(np.float32), -near.astype(np.float32), special,
                             rng.normal(0, 10, 100_000).astype(np.float32)])
    ours = np.frombuffer(_native_module()._fp8_e4m3_from_f32(values.tobytes()), dtype=np.uint8)
    ref = torch.from_numpy(values.copy()).to(torch.float8_e4m3fn).view(torch.uint8).numpy()
    mismatch = np.nonzero(ours != ref)[0]
    assert mismatch.size == 0, [(float(values[i]), int(ours[i]), int(ref[i])) for i in mismatch[:10]]


# ---- checkpoints built with torch ---------------------------------------------------------------------------

LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _dynamic_scale(absmax):
    return torch.clamp(absmax / 448.0, min=1.0 / (448.0 * 512.0))


def _quantize(w, scales, block=None):
    """w [N, K] f32 -> (fp8 weight, scale tensor) in the layout the checkpoint stores."""
    if scales == "tensor":
        s = _dynamic_scale(w.abs().max()).reshape(1)
        return (w / s).to(torch.float8_e4m3fn), s
    if scales == "channel":
        s = _dynamic_scale(w.abs().amax(dim=1, keepdim=True))
        return (w / s).to(torch.float8_e4m3fn), s
    n, k = w.shape
    gr, gc = -(-n // block), -(-k // block)
    padded = torch.zeros(gr * block, gc * block)
    padded[:n, :k] = w
    s = _dynamic_scale(padded.reshape(gr, block, gc, block).abs().amax(dim=(1, 3)))
    full = s.repeat_interleave(block, 0).repeat_interleave(block, 1)[:n, :k]
    return (w / full).to(torch.float8_e4m3fn), s


def _fp8_checkpoint(src, dst, scales, block=4, static_input_scale=None, mutate=None):
    """Copies the fixture folder `src` to `dst` with its linear weights in FP8, as llm-compressor (tensor,
    channel) or transformers' FineGrainedFP8 (block) write them."""
    shutil.copytree(src, dst)
    tensors = safetensors_torch.load_file(str(src / "model.safetensors"))
    out = {}
    for name, t in tensors.items():
        module = name[: -len(".weight")]
        if name.endswith(".weight") and module.split(".")[-1] in LINEAR:
            q, s = _quantize(t.float(), scales, block)
            out[name] = q
            out[module + (".weight_scale_inv" if scales == "block" else ".weight_scale")] = s
            if static_input_scale is not None:
                out[module + ".input_scale"] = torch.tensor([static_input_scale])
        else:
            out[name] = t
    if mutate:
        mutate(out)
    safetensors_torch.save_file(out, str(dst / "model.safetensors"), metadata={"format": "pt"})
    cfg = json.loads((src / "config.json").read_text())
    if scales == "block":
        cfg["quantization_config"] = {"quant_method": "fp8", "activation_scheme": "dynamic", "fmt": "e4m3",
                                      "weight_block_size": [block, block]}
    else:
        act = ({"num_bits": 8, "type": "float", "symmetric": True, "strategy": "tensor", "dynamic": False}
               if static_input_scale is not None else
               {"num_bits": 8, "type": "float", "symmetric": True, "strategy": "token", "dynamic": True})
        cfg["quantization_config"] = {
            "quant_method": "compressed-tensors", "format": "float-quantized", "quantization_status": "compressed",
            "config_groups": {"group_0": {"targets": ["Linear"], "input_activations": act, "output_activations": None,
                                          "weights": {"num_bits": 8, "type": "float", "symmetric": True,
                                                      "strategy": scales, "dynamic": False}}},
            "ignore": ["lm_head"]}
    (dst / "config.json").write_text(json.dumps(cfg))
    return dst


def _prompts():
    golden = json.loads((TINY_LLAMA / "golden.json").read_text())
    return [{"prompt_token_ids": g["prompt_token_ids"]} for g in golden["prompts"]]


def _generate(path, **kwargs):
    llm = LLM(str(path), device="cpu", dtype="float32", **kwargs)
    params = SamplingParams(max_tokens=MAX_TOKENS, temperature=0, logprobs=0, ignore_eos=True)
    outs = llm.generate(_prompts(), params, use_tqdm=False)
    return [(list(o.outputs[0].token_ids), [next(iter(lp.values())).logprob for lp in o.outputs[0].logprobs])
            for o in outs]


@pytest.fixture(scope="module")
def source_run():
    require_fixtures()
    return _generate(TINY_LLAMA)


def test_quantize_at_load_equals_the_torch_built_per_tensor_checkpoint(tmp_path):
    require_fixtures()
    ckpt = _fp8_checkpoint(TINY_LLAMA, tmp_path / "fp8", "tensor")
    assert _generate(TINY_LLAMA, quantization="fp8") == _generate(ckpt)


def test_quantize_at_load_equals_the_make_model_checkpoint_of_the_same_weights(tmp_path):
    cli = require_binary("shardlm")
    common = ["make-model", "--preset", "llama-tiny", "--seed", "7", "--dtype", "bfloat16"]
    subprocess.run([str(cli), *common, "--out", str(tmp_path / "bf16")], check=True, capture_output=True)
    subprocess.run([str(cli), *common, "--out", str(tmp_path / "fp8"), "--quantization", "fp8"], check=True,
                   capture_output=True)
    params = SamplingParams(max_tokens=8, temperature=0, logprobs=3, ignore_eos=True)
    prompts = ["hello there", "a b c d e f"]

    def run(path, **kw):
        outs = LLM(str(path), device="cpu", **kw).generate(prompts, params, use_tqdm=False)
        return [(list(o.outputs[0].token_ids), [{k: v.logprob for k, v in lp.items()} for lp in o.outputs[0].logprobs])
                for o in outs]

    assert run(tmp_path / "bf16", quantization="fp8") == run(tmp_path / "fp8")


def _agreement(source, fp8):
    """(share of greedy tokens equal up to each prompt's first divergence, largest logprob difference of the
    tokens both runs chose before it)."""
    agreed = total = 0
    err = 0.0
    for (ids_a, lp_a), (ids_b, lp_b) in zip(source, fp8):
        total += len(ids_a)
        for i, (a, b) in enumerate(zip(ids_a, ids_b)):
            if a != b:
                break
            agreed += 1
            err = max(err, abs(lp_a[i] - lp_b[i]))
    return agreed / total, err


@pytest.mark.parametrize("scales", ["tensor", "channel", "block"])
def test_fp8_checkpoints_stay_close_to_their_source(tmp_path, source_run, scales):
    ckpt = _fp8_checkpoint(TINY_LLAMA, tmp_path / "fp8", scales)
    agreement, err = _agreement(source_run, _generate(ckpt))
    print(f"FP8 {scales}: greedy agreement {agreement:.3f}, max logprob error {err:.4f}")
    assert agreement >= FP8_MIN_AGREEMENT and err <= FP8_MAX_LOGPROB_ERROR


def test_static_activation_scales_load_and_differ_from_dynamic_ones(tmp_path, source_run):
    ckpt = _fp8_checkpoint(TINY_LLAMA, tmp_path / "static", "tensor", static_input_scale=0.05)
    static = _generate(ckpt)
    dynamic = _generate(_fp8_checkpoint(TINY_LLAMA, tmp_path / "dyn", "tensor"))
    assert static != dynamic  # the checkpoint's input_scale is used, not a dynamic one
    assert _agreement(source_run, static)[1] <= FP8_MAX_LOGPROB_ERROR


# ---- tensor parallelism -------------------------------------------------------------------------------------

TP_WORKER = textwrap.dedent(
    """
    import json, os, sys
    from shardlm import LLM, SamplingParams
    llm = LLM(sys.argv[1], tensor_parallel_size=2, device="cpu", dtype="float32")
    params = SamplingParams(max_tokens=8, temperature=0, logprobs=0, ignore_eos=True)
    outs = llm.generate(json.loads(sys.argv[2]), params, use_tqdm=False)
    res = [[list(o.outputs[0].token_ids), [next(iter(lp.values())).logprob for lp in o.outputs[0].logprobs]] for o in outs]
    with open(os.path.join(sys.argv[3], "rank%s.json" % os.environ["RANK"]), "w") as f:
        json.dump(res, f)
    """
)


@pytest.mark.parametrize("scales", ["channel", "block"])
def test_tp2_equals_tp1_on_an_fp8_checkpoint(tmp_path, scales):
    require_fixtures()
    ckpt = _fp8_checkpoint(TINY_LLAMA, tmp_path / "fp8", scales)
    prompts = _prompts()[:3]
    params = SamplingParams(max_tokens=8, temperature=0, logprobs=0, ignore_eos=True)
    tp1 = [(list(o.outputs[0].token_ids), [next(iter(lp.values())).logprob for lp in o.outputs[0].logprobs])
           for o in LLM(str(ckpt), device="cpu", dtype="float32").generate(prompts, params, use_tqdm=False)]
    worker = tmp_path / "worker.py"
    worker.write_text(TP_WORKER)
    launcher = require_binary("shardlm-run")
    proc = subprocess.run([str(launcher), "--standalone", "--nproc-per-node=2", shardlm_python(), str(worker),
                           str(ckpt), json.dumps(prompts), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=subprocess_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0 == r1
    # Per-token activation scales come from each rank's shard of a row-parallel input (as in vLLM), so TP=2
    # quantises down_proj/o_proj inputs differently from TP=1 (measured: up to 0.06 in logprob, tokens equal);
    # 4x4 blocks with per-group scales see the same groups on every TP size: equal to f32 rounding.
    if scales == "block":
        for (ids1, lp1), (ids2, lp2) in zip(tp1, r0):
            assert ids1 == ids2
            assert np.allclose(lp1, lp2, atol=1e-4), np.max(np.abs(np.array(lp1) - np.array(lp2)))
    else:
        agreement, err = _agreement(tp1, r0)
        assert agreement >= FP8_MIN_AGREEMENT and err <= FP8_MAX_LOGPROB_ERROR


def shardlm_python():
    import sys

    return sys.executable


def test_fused_parts_that_split_a_block_are_a_clear_error(tmp_path):
    require_fixtures()
    # 48-wide blocks: q_proj's 64 rows are not whole blocks, so k_proj's blocks would not line up after them in
    # the fused QKV weight (vLLM refuses this too).
    ckpt = _fp8_checkpoint(TINY_LLAMA, tmp_path / "fp8", "block", block=48)
    with pytest.raises(shardlm.EngineError, match="q_proj' contributes 64 rows .* not whole 48-row FP8 weight blocks"):
        LLM(str(ckpt), device="cpu")


# ---- errors -------------------------------------------------------------------------------------------------

L0 = "model.layers.0.self_attn.q_proj"


def _drop(name):
    return lambda t: t.pop(name)


def _replace(name, value):
    def f(t):
        t[name] = value

    return f


@pytest.mark.parametrize("scales,mutate,match", [
    ("tensor", _drop(L0 + ".weight_scale"), "missing tensor '" + L0 + ".weight_scale'"),
    ("channel", _replace(L0 + ".weight_scale", torch.ones(3, 1)), L0 + ".weight_scale' has shape \\[3, 1\\].*per-channel"),
    ("tensor", _replace(L0 + ".weight_scale", torch.ones(2)), "per-tensor weight scales"),
    ("block", _replace(L0 + ".weight_scale_inv", torch.ones(1, 1)), "weight_scale_inv' has shape \\[1, 1\\]"),
    ("tensor", _replace(L0 + ".weight", torch.zeros(64, 64, dtype=torch.bfloat16)), "is bfloat16.*float8_e4m3fn"),
    ("tensor", _replace(L0 + ".weight_scale", torch.ones(1, dtype=torch.int32)), "int32; FP8 scales must be"),
    ("tensor", _replace(L0 + ".weight_scale", torch.tensor([-1.0])), "must be positive and finite"),
])
def test_corrupt_fp8_checkpoints_are_clear_errors(tmp_path, scales, mutate, match):
    require_fixtures()
    ckpt = _fp8_checkpoint(TINY_LLAMA, tmp_path / "bad", scales, mutate=mutate)
    with pytest.raises(shardlm.EngineError, match=match):
        LLM(str(ckpt), device="cpu")


@pytest.mark.parametrize("edit,match", [
    (lambda q: q.update(quant_method="awq"), "quant_method 'awq' is not supported"),
    (lambda q: q["config_groups"]["group_0"]["weights"].update(num_bits=4, type="int"), "4-bit int quantisation"),
    (lambda q: q["config_groups"]["group_0"].update(input_activations=None), "W8A16"),
    (lambda q: q.update(format="pack-quantized"), "format 'pack-quantized'"),
])
def test_unsupported_schemes_are_named(tmp_path, edit, match):
    require_fixtures()
    ckpt = _fp8_checkpoint(TINY_LLAMA, tmp_path / "bad", "channel")
    cfg = json.loads((ckpt / "config.json").read_text())
    edit(cfg["quantization_config"])
    (ckpt / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(shardlm.EngineError, match=match):
        LLM(str(ckpt), device="cpu")


def test_quantization_option_values(tmp_path):
    require_fixtures()
    with pytest.raises(ValueError, match="quantization must be None or 'fp8', got 'int8'"):
        LLM(str(TINY_LLAMA), device="cpu", quantization="int8")
    ckpt = _fp8_checkpoint(TINY_LLAMA, tmp_path / "ct", "channel")
    with pytest.raises(shardlm.EngineError, match="does not match the checkpoint's quantization method"):
        LLM(str(ckpt), device="cpu", quantization="fp8")
