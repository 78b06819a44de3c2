#!/usr/bin/env bash
# Runs ON THE GPU MACHINE: unpacks the carried .deb packages the machine lacks, builds (CUDA arch 90,
# ninja -j16), runs the CUDA op tests, the model golden tests on the GPU (f32, bf16, f16) and the op
# benchmarks, and writes every log to $OUT (one folder, at most 8 files):
#   env.txt  summary.txt  build_ops.log  build_full.log  test_cuda.log  test_models.log  bench.txt
#
# Two builds, run side by side:
#   ops-only  scripts/gpu/ops_only/: core + ops + tests/cuda; builds whatever state the rest of the tree is in.
#   full      the top-level CMakeLists.txt: the whole library, tests/models (golden tests on CUDA through
#             SHARDLM_TEST_DEVICE=cuda). Built in place when this tree is complete; otherwise (a stage
#             holding only the CUDA worktree) in a copy of $SHARDLM_FULL_BASE (default: the folder above,
#             i.e. the main checkout the stage sits in) with this tree's CUDA-owned paths laid over it.
#
# Environment: OUT (log folder; default ./gpu-logs), SHARDLM_DEBS (folder of .deb files; default ../.debs),
# SHARDLM_FIXTURES (default ./_fixtures, else ../shared/fixtures), SHARDLM_JOBS (16), SHARDLM_BUDGET_S
# (seconds this script may take in all; default 540: steps that no longer fit are skipped and say so).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$ROOT/gpu-logs}
DEBS=${SHARDLM_DEBS:-$ROOT/../.debs}
JOBS=${SHARDLM_JOBS:-16}
BUDGET=${SHARDLM_BUDGET_S:-540}
PREFIX=${SHARDLM_DEPS_PREFIX:-/tmp/shardlm-deps}
BUILD_OPS=${SHARDLM_BUILD_OPS:-/tmp/shardlm-build-ops}
BUILD_FULL=${SHARDLM_BUILD_FULL:-/tmp/shardlm-build-full}
FULL_BASE=${SHARDLM_FULL_BASE:-$ROOT/..}
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"
say() { echo "== $*" | tee -a "$SUMMARY"; }
left() { echo $((BUDGET - SECONDS)); }
# Seconds for the next step: what is left minus a reserve for later steps, at most `cap`, at least 1.
tlim() { local t=$(( $(left) - $1 )); (( t > $2 )) && t=$2; (( t < 1 )) && t=1; echo $t; }

if [[ -z ${SHARDLM_FIXTURES:-} ]]; then
  if [[ -d $ROOT/_fixtures/models ]]; then SHARDLM_FIXTURES=$ROOT/_fixtures; else SHARDLM_FIXTURES=$ROOT/../shared/fixtures; fi
fi
export SHARDLM_FIXTURES

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  nvcc --version | tail -2
  cmake --version | head -1
  gcc --version | head -1
  echo "cores: $(nproc)"
  env | grep -E '^(NCCL_|CUDA_VISIBLE)' || true
  cat "$ROOT/STAGE_INFO" 2>/dev/null
} > "$OUT/env.txt" 2>&1
say "device: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1), $(date -u +%FT%TZ)"

# --- 1. Packages the machine lacks (gloo + hiredis/ibverbs runtime, pcre2 headers, sentencepiece, pkgconf).
source "$ROOT/scripts/gpu/deps.sh"

# --- 2. Sources of the full build.
FULL_SRC=""
OWNED="src/ops/cuda tests/cuda scripts/gpu tests/common/model_harness.h tests/models/golden_test.cpp CMakeLists.txt"
if [[ -f $ROOT/src/io/weight_store.h && -f $ROOT/src/distributed/parallel_state.h ]]; then
  FULL_SRC=$ROOT
elif [[ -f $FULL_BASE/src/io/weight_store.h ]]; then
  FULL_SRC=/tmp/shardlm-full-src
  rm -rf "$FULL_SRC" && mkdir -p "$FULL_SRC"
  (cd "$FULL_BASE" && tar cf - --exclude=./.gpu_stage --exclude=./.debs --exclude='./build*' --exclude=./.git .) |
    (cd "$FULL_SRC" && tar xf -)
  for p in $OWNED; do
    if [[ -e $ROOT/$p ]]; then rm -rf "${FULL_SRC:?}/$p"; mkdir -p "$(dirname "$FULL_SRC/$p")"; cp -a "$ROOT/$p" "$FULL_SRC/$p"; fi
  done
  say "full build: $FULL_BASE with this tree's CUDA paths laid over it"
else
  say "full build: SKIPPED (no complete tree here or in $FULL_BASE)"
fi

# --- 3. Builds, side by side (the ops-only one first in line for the GPU).
EXTRA_INC=$BUILD_OPS/fallback_include
if [[ ! -f $ROOT/src/distributed/process_group.h && -f $FULL_BASE/src/distributed/process_group.h ]]; then
  mkdir -p "$EXTRA_INC/distributed" && cp "$FULL_BASE/src/distributed/process_group.h" "$EXTRA_INC/distributed/"
fi
(
  cmake -S "$ROOT/scripts/gpu/ops_only" -B "$BUILD_OPS" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DSHARDLM_EXTRA_INCLUDE="$EXTRA_INC" &&
    ninja -C "$BUILD_OPS" -j "$JOBS"
) > "$OUT/build_ops.log" 2>&1 &
OPS_PID=$!
FULL_PID=""
if [[ -n $FULL_SRC ]]; then
  (
    # GCC 13 no longer pulls <cstdint> in through other headers; some modules still rely on that.
    cmake -S "$FULL_SRC" -B "$BUILD_FULL" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
      -DCMAKE_CXX_FLAGS="-include cstdint" &&
      ninja -C "$BUILD_FULL" -j "$JOBS" -k 0
  ) > "$OUT/build_full.log" 2>&1 &
  FULL_PID=$!
fi

if wait $OPS_PID; then
  say "ops-only build: ok (${SECONDS}s)"
  T=$(( $(left) - 60 )); (( T > 240 )) && T=240
  if (( T > 20 )); then
    timeout "$T" "$BUILD_OPS/bin/test_cuda" > "$OUT/test_cuda.log" 2>&1
    say "test_cuda: rc=$? ($(grep -E '^\[  (PASSED|FAILED|SKIPPED) +\] [0-9]+ tests?' "$OUT/test_cuda.log" | tr '\n' ' '))"
    grep -E '^\[  FAILED  \]' "$OUT/test_cuda.log" | sort -u | head -40 >> "$SUMMARY"
  else
    say "test_cuda: SKIPPED (out of time)"
  fi
else
  say "ops-only build: FAILED (see build_ops.log)"
  grep -E 'error|FAILED' "$OUT/build_ops.log" | head -20 >> "$SUMMARY"
fi

if [[ -n $FULL_PID ]]; then
  if wait $FULL_PID; then
    say "full build: ok (${SECONDS}s)"
    : > "$OUT/test_models.log"
    for cfg in cuda:float32 cuda:bfloat16 cuda:float16 cpu:float32; do
      T=$(( $(left) - 50 )); (( T > 120 )) && T=120
      if (( T < 15 )); then say "test_models $cfg: SKIPPED (out of time)"; continue; fi
      echo "######## SHARDLM_TEST_DEVICE=${cfg%%:*} SHARDLM_TEST_DTYPE=${cfg##*:}" >> "$OUT/test_models.log"
      SHARDLM_TEST_DEVICE=${cfg%%:*} SHARDLM_TEST_DTYPE=${cfg##*:} timeout "$T" "$BUILD_FULL/bin/test_models" \
        >> "$OUT/test_models.log" 2>&1
      rc=$?
      say "test_models $cfg: rc=$rc"
    done
    grep -E '^######## |^\[  (FAILED|PASSED|SKIPPED) +\] [0-9]+ tests?|^\[  FAILED  \] [A-Z]|Failure|Expected|Which is|error' \
      "$OUT/test_models.log" | head -80 >> "$SUMMARY"
  else
    say "full build: FAILED (see build_full.log)"
    grep -E 'error|FAILED' "$OUT/build_full.log" | head -20 >> "$SUMMARY"
  fi
fi

# --- 4. Op benchmarks.
if [[ -x $BUILD_OPS/bin/bench_ops ]] && (( $(left) > 40 )); then
  T=$(( $(left) - 10 )); (( T > 90 )) && T=90
  timeout "$T" "$BUILD_OPS/bin/bench_ops" > "$OUT/bench.txt" 2>&1
  say "bench_ops: rc=$?"
  cat "$OUT/bench.txt" >> "$SUMMARY"
else
  say "bench_ops: SKIPPED"
fi
# --- 5. Kernels under compute-sanitizer (out-of-bounds and misaligned accesses), when time allows.
if [[ -x $BUILD_OPS/bin/test_cuda ]] && command -v compute-sanitizer > /dev/null && (( $(left) > 100 )); then
  T=$(( $(left) - 60 )); (( T > 120 )) && T=120
  echo "######## compute-sanitizer --tool memcheck" >> "$OUT/test_cuda.log"
  SHARDLM_CUDA_ASSUME_GPU=1 timeout "$T" compute-sanitizer --tool memcheck --error-exitcode 9 "$BUILD_OPS/bin/test_cuda" \
    --gtest_filter='*PagedAttention*/f16:*PagedAttention*/f32:*CudaOps*/bf16' >> "$OUT/test_cuda.log" 2>&1
  say "compute-sanitizer memcheck (attention f16+f32, other ops bf16): rc=$? ($(grep -E '^========= ERROR SUMMARY' "$OUT/test_cuda.log" | tail -1))"
  if (( $(left) > 100 )); then
    echo "######## compute-sanitizer --tool racecheck" >> "$OUT/test_cuda.log"
    SHARDLM_CUDA_ASSUME_GPU=1 timeout "$(tlim 70 90)" compute-sanitizer --tool racecheck --error-exitcode 9 \
      "$BUILD_OPS/bin/test_cuda" --gtest_filter='*PagedAttention*/bf16' >> "$OUT/test_cuda.log" 2>&1
    say "compute-sanitizer racecheck (attention bf16): rc=$? ($(grep -E '^========= (ERROR|RACECHECK) SUMMARY' "$OUT/test_cuda.log" | tail -1))"
  fi
fi

# --- 6. The engine end to end on the GPU (CLI): a fixture model, then a random-weight Llama's throughput.
CLI=$BUILD_FULL/bin/shardlm
if [[ -x $CLI ]] && (( $(left) > 40 )); then
  LOG=$OUT/test_models.log
  echo "######## shardlm generate --device cuda (tiny-llama fixture)" >> "$LOG"
  timeout 40 "$CLI" generate --model "$SHARDLM_FIXTURES/models/tiny-llama" --device cuda --dtype bfloat16 \
    --prompt "Hello, my name is" --max-tokens 16 --temperature 0 --no-progress >> "$LOG" 2>&1
  say "shardlm generate on cuda: rc=$?"
  if (( $(left) > 60 )) && timeout 30 "$CLI" make-model --preset llama-125m --out /tmp/llama-125m >> "$LOG" 2>&1; then
    echo "######## shardlm bench latency/throughput --device cuda (random llama-125m)" >> "$LOG"
    timeout "$(tlim 30 60)" "$CLI" bench latency --model /tmp/llama-125m --device cuda --batch-size 1 \
      --input-len 128 --output-len 128 --num-iters 3 --num-iters-warmup 1 >> "$LOG" 2>&1
    say "shardlm bench latency on cuda: rc=$? ($(grep -E 'Avg latency|Per output token' "$LOG" | tail -2 | tr '\n' ' '))"
    timeout "$(tlim 5 60)" "$CLI" bench throughput --model /tmp/llama-125m --device cuda --input-len 128 \
      --output-len 128 --num-prompts 256 >> "$LOG" 2>&1
    say "shardlm bench throughput on cuda: rc=$? ($(grep -iE 'throughput|tokens/s' "$LOG" | tail -2 | tr '\n' ' '))"
  fi
fi
say "done in ${SECONDS}s"
