#!/usr/bin/env bash
# Runs ON THE GPU MACHINE (device tool, one GPU; carry .debs): the attention kernels at the offline throughput
# benchmark's shapes (llama-3-8b per layer: 32 q heads, 8 kv heads, head 128, bf16; issue #18). Builds the
# ops-only tree, runs the attention tests (TESTS=0 skips them), times every case (bench_ops attention), and with
# NCU=1 reads Nsight Compute's counters for one launch of each case (clocks left alone).
# usage: OUT=$OUT [TESTS=0] [TESTS_FILTER=gtest-filter] [NCU=1] [FULL_BUILD=1] bash scripts/gpu/attention_profile.sh     -> $OUT/attention.txt, $OUT/ncu.txt
set -uo pipefail
SUMMARY_NAME=attention.txt
source scripts/gpu/common.sh
say "on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(date -u +%FT%TZ), commit $(cat COMMIT 2>/dev/null)"
# FULL_BUILD=1: also build build-gpu (the whole engine, for profile_throughput.sh) alongside, on the same cores.
if [[ ${FULL_BUILD:-0} == 1 ]]; then
  build_gpu "$OUT/build_full.log" shardlm test_cuda &
  FULL_PID=$!
fi
BO=/tmp/build-ops
[[ -f $BO/build.ninja ]] || cmake -S scripts/gpu/ops_only -B $BO -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_ARCHITECTURES=90 > "$OUT/build_ops.log" 2>&1
ninja -C $BO -j "$(nproc)" bench_ops >> "$OUT/build_ops.log" 2>&1 ||
  { say "build failed"; grep -E "error" "$OUT/build_ops.log" | head -20 | tee -a "$SUMMARY"; exit 1; }
say "built at $SECONDS s"
if [[ ${TESTS:-1} != 0 ]]; then
  # The tests come from the full build (build-gpu): wait for it when it is being built alongside.
  [[ -n ${FULL_PID:-} ]] && { wait $FULL_PID; say "full build rc=$? at $SECONDS s"; FULL_PID=; }
  timeout 300 build-gpu/bin/test_cuda --gtest_filter="${TESTS_FILTER:-*Attention*}" > "$OUT/test_attention.log" 2>&1
  say "attention tests rc=$?: $(grep -E '^\[  (PASSED|FAILED) ' "$OUT/test_attention.log" | tr '\n' ' ')"
  grep -E "^\[  FAILED  \]|Failure" "$OUT/test_attention.log" | head -20 | tee -a "$SUMMARY"
fi
copy_bandwidth
for v in "" ${VARIANTS:-}; do
  say "SHARDLM_CUDA_ATTENTION=${v:-default}"
  SHARDLM_CUDA_ATTENTION=$v timeout 200 $BO/bin/bench_ops attention 2>&1 | tee -a "$SUMMARY"
done
if [[ ${NCU:-0} == 1 ]]; then
  BENCH_OPS_ONCE=1 timeout 300 ncu --clock-control none -k 'regex:paged|combine' \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
    --section WarpStateStats --section SchedulerStats $BO/bin/bench_ops attention > "$OUT/ncu.txt" 2>&1
  say "ncu rc=$? at $SECONDS s"
fi
if [[ -n ${FULL_PID:-} ]]; then
  wait $FULL_PID; say "full build rc=$? at $SECONDS s"
  grep -E "error" "$OUT/build_full.log" | head -10 | tee -a "$SUMMARY"
fi
say "done at $SECONDS s"
