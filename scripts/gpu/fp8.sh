#!/usr/bin/env bash
# Runs ON THE GPU MACHINE (device tool, one GPU; carry .debs): issue #18's FP8 checks in one call. test_cuda's
# FP8 tests (the cuBLASLt FP8 GEMM with per-token activation and per-tensor/channel/block weight scales, the
# activation-quantize kernel, each against the CPU reference), then llama-3-8b random weights in bf16 and as
# FP8 (quantised at load, and the checkpoint make-model writes): greedy agreement, batch-1 latency (32 in / 128
# out) and throughput (1000 x 256 in x 256 out), bf16 against FP8 on the same card in the same call.
# usage: OUT=$OUT [SKIP_BENCH=1] bash scripts/gpu/fp8.sh
set -uo pipefail
SUMMARY_NAME=fp8.txt
source scripts/gpu/common.sh
say "on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(date -u +%FT%TZ), commit $(cat COMMIT 2>/dev/null)"
build_gpu "$OUT/build_fp8.log" shardlm test_cuda ||
  { say "build failed"; grep -E "error" "$OUT/build_fp8.log" | head -20; exit 1; }
timeout 300 $B/test_cuda --gtest_filter='*Fp8*:*FP8*' > "$OUT/test_fp8.log" 2>&1
say "test_cuda FP8 rc=$?: $(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$OUT/test_fp8.log" | tr '\n' ' ')"
grep -E "^\[  FAILED  \]|Failure|error|fallback" "$OUT/test_fp8.log" | head -20 | tee -a "$SUMMARY"
[[ ${SKIP_BENCH:-0} == 1 ]] && exit 0

[[ -f /tmp/l8b.done ]] || { $B/shardlm make-model --preset llama-3-8b --out /tmp/l8b > "$OUT/make8b.log" 2>&1 && touch /tmp/l8b.done; }
[[ -f /tmp/l8b-fp8.done ]] || { $B/shardlm make-model --preset llama-3-8b --quantization fp8 --out /tmp/l8b-fp8 \
  > "$OUT/make8b_fp8.log" 2>&1 && touch /tmp/l8b-fp8.done; }
for variant in "bf16:/tmp/l8b:" "fp8-at-load:/tmp/l8b:--quantization fp8" "fp8-checkpoint:/tmp/l8b-fp8:"; do
  IFS=: read -r name model flags <<< "$variant"
  timeout 240 $B/shardlm generate --model "$model" $flags --device cuda --max-tokens 32 --temperature 0 \
    --prompt "The capital of France is" --output-jsonl "$OUT/greedy_$name.jsonl" > "$OUT/greedy_$name.log" 2>&1
  timeout 240 $B/shardlm bench latency --model "$model" $flags --device cuda --batch-size 1 --input-len 32 \
    --output-len 128 --num-iters 5 --num-iters-warmup 1 > "$OUT/lat_$name.log" 2>&1
  say "$name latency rc=$?: $(grep -iE 'avg|median' "$OUT/lat_$name.log" | head -2 | tr '\n' ' ')"
  timeout 300 $B/shardlm bench throughput --model "$model" $flags --device cuda --num-prompts 1000 --input-len 256 \
    --output-len 256 --max-model-len 1024 > "$OUT/tput_$name.log" 2>&1
  say "$name throughput rc=$?: $(grep -iE 'tokens/s' "$OUT/tput_$name.log" | head -2 | tr '\n' ' ')"
done
python3 - "$OUT" <<'PY' | tee -a "$SUMMARY"
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
ids = {n: json.loads((out / f"greedy_{n}.jsonl").read_text().splitlines()[0]).get("token_ids") for n in
       ("bf16", "fp8-at-load", "fp8-checkpoint") if (out / f"greedy_{n}.jsonl").exists()}
ref = ids.get("bf16") or []
for n, t in ids.items():
    same = next((i for i, (a, b) in enumerate(zip(ref, t or [])) if a != b), min(len(ref), len(t or [])))
    print(f"greedy {n}: first {same} of {len(ref)} tokens equal bf16's")
PY
say "done at $SECONDS s"
