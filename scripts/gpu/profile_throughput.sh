#!/usr/bin/env bash
# Runs ON THE GPU MACHINE (device tool, one GPU; carry .debs): issue #18's throughput runs with the op profiler
# (SHARDLM_PROFILE_OPS, src/ops/op_profile.h), to see per op where a batched step's device time goes.
# llama-3-8b (random weights, bf16) at 1000 x 256 in x 256 out with CUDA graphs (the figure to beat) and eagerly
# with the profiler, at the engine's defaults and at vLLM's H100 scheduler defaults (1024 seqs / 16384 tokens),
# and 1000 x 1024 in x 128 out. Builds build-gpu when it is missing; writes /tmp/l8b once per machine
# (MODEL=dir to use another). Profiles land in $OUT/prof_*.txt, figures in $OUT/profile.txt.
# usage: OUT=$OUT [RUNS="256_graphs 1024_eager_prof ..."] [TESTS=gtest-filter] bash scripts/gpu/profile_throughput.sh
# TESTS runs test_cuda with that filter first (kernel changes: correctness before speed).
set -uo pipefail
SUMMARY_NAME=profile.txt
source scripts/gpu/common.sh
say "on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(date -u +%FT%TZ), commit $(cat COMMIT 2>/dev/null)"
build_gpu "$OUT/build_profile.log" shardlm ${TESTS:+test_cuda} ||
  { say "build failed"; grep -E "error" "$OUT/build_profile.log" | head -20; exit 1; }
if [[ -n ${TESTS:-} ]]; then
  timeout 300 $B/test_cuda --gtest_filter="$TESTS" > "$OUT/test_cuda.log" 2>&1
  say "test_cuda ($TESTS) rc=$?: $(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$OUT/test_cuda.log" | tr '\n' ' ')"
  grep -E "^\[  FAILED  \]|Failure|error" "$OUT/test_cuda.log" | head -20 | tee -a "$SUMMARY"
fi
M=${MODEL:-/tmp/l8b}
if [[ ! -f $M.done ]]; then
  # A make-model started by an earlier call may still be writing; wait for it, else write it now.
  if pgrep -f "make-model --preset llama-3-8b" > /dev/null; then
    while pgrep -f "make-model --preset llama-3-8b" > /dev/null; do sleep 2; done
  else
    $B/shardlm make-model --preset llama-3-8b --out "$M" > "$OUT/make8b.log" 2>&1 && touch "$M.done"
  fi
fi
say "model ready at $SECONDS s"
RUNS=${RUNS:-256_graphs 256_eager_prof 256_vllm_eager_prof 1024_graphs 1024_eager_prof}
run() {  # label, profile file ("" = none), args...
  local label=$1 prof=$2; shift 2
  [[ " $RUNS " == *" $label "* ]] || return 0
  SHARDLM_PROFILE_OPS=$prof timeout 240 $B/shardlm bench throughput --model "$M" --device cuda --num-prompts 1000 "$@" \
    > "$OUT/run_$label.log" 2>&1
  say "$label rc=$? at $SECONDS s: $(grep -E 'Throughput|Engine steps|CUDA graphs' "$OUT/run_$label.log" | tr '\n' ' ')"
}
S256="--input-len 256 --output-len 256 --max-model-len 1024"
S1024="--input-len 1024 --output-len 128 --max-model-len 2048"
VLLM="--max-num-seqs 1024 --max-num-batched-tokens 16384"
run 256_graphs "" $S256
run 256_eager_prof "$OUT/prof_256.txt" $S256 --enforce-eager
SHARDLM_CUDA_ATTENTION=decode-v1 run 256_decode_v1_graphs "" $S256
SHARDLM_CUDA_ATTENTION=decode-v1 run 1024_decode_v1_graphs "" $S1024
SHARDLM_CUDA_ATTENTION=simt-decode run 256_simt_decode_graphs "" $S256
SHARDLM_CUDA_ATTENTION=simt-decode run 256_simt_decode_eager_prof "$OUT/prof_256_simt.txt" $S256 --enforce-eager
run 256_vllm_eager_prof "$OUT/prof_256_vllm.txt" $S256 $VLLM --enforce-eager
run 256_vllm_graphs "" $S256 $VLLM
run 1024_vllm_graphs "" $S1024 $VLLM
run 1024_graphs "" $S1024
run 1024_eager_prof "$OUT/prof_1024.txt" $S1024 --enforce-eager
for f in "$OUT"/prof_*.txt; do [[ -f $f ]] && { say "$(basename "$f"):"; head -25 "$f" | tee -a "$SUMMARY"; }; done
say "done at $SECONDS s"
