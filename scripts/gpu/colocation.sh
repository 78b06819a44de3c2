#!/usr/bin/env bash
# Runs ON THE GPU MACHINE (device tool; one GPU is enough; carry .debs and .fixtures): issue #12's GPU checks in
# one call. Builds the engine and the Python module (pybind11 from pip or the carried pybind11-dev, DLPack from
# the carried libdlpack-dev), then with the machine's torch: python/tests/test_cuda_colocation.py (parameters
# as CUDA tensors, load_weights from CUDA tensors vs a fresh engine, sleep/wake GPU memory), the import-order
# tests, python/tests/test_cuda_sampling.py (logit-shaping parameters on CUDA vs CPU), the seed script and the
# RLHF example on --device cuda under torchrun (1 rank per GPU).
# usage: OUT=$OUT [BUILD_TYPE=RelWithDebInfo] bash scripts/gpu/colocation.sh
set -uo pipefail
SUMMARY_NAME=colocation.txt
source scripts/gpu/common.sh
export SHARDLM_FIXTURES=$ROOT/.fixtures
F=$SHARDLM_FIXTURES/models
NGPU=$(nvidia-smi -L | wc -l)
say "on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1) x$NGPU, $(date -u +%FT%TZ), commit $(cat COMMIT 2>/dev/null)"
PYB=$(python3 -c "import pybind11; print('-Dpybind11_DIR=' + pybind11.get_cmake_dir())" 2>/dev/null)
# -Wl,-y names the file that defines a libstdc++ facet symbol when libshardlm.so is linked: on the GPU machine
# (2026-12-07) libshardlm.so carried its own copy of libstdc++'s locale code (8,627 std:: symbols, codecvt facets
# among them; 3,378 and none here), and an ostream << double in it crashed inside torch's Python process.
STDCXX_PROBE=_ZNKSt7codecvtIDsc11__mbstate_tE9do_lengthERS0_PKcS4_m
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} -DCMAKE_CUDA_ARCHITECTURES=90 -DSHARDLM_WITH_PYTHON=ON \
  -DCMAKE_SHARED_LINKER_FLAGS="-Wl,-y,$STDCXX_PROBE" \
  -DPython_EXECUTABLE="$(command -v python3)" $PYB > "$OUT/build.log" 2>&1 &&
  ninja -C build-gpu -j "$(nproc)" shardlm shardlm-run _shardlm test_cuda >> "$OUT/build.log" 2>&1
say "build rc=$? at $SECONDS s"; grep -E "error|FAILED|Python module" "$OUT/build.log" | head -5 | tee -a "$SUMMARY"
say "libstdc++ facet code linked into libshardlm.so from: $(grep -E "libshardlm|definition of $STDCXX_PROBE" "$OUT/build.log" | grep -i definition | head -3 | tr '\n' ' ') (std:: symbols defined: $(nm -C --defined-only build-gpu/lib/libshardlm.so | grep -c ' std::'))"
export PYTHONPATH=$ROOT/build-gpu/python SHARDLM_BUILD_DIR=$ROOT/build-gpu

timeout 120 $B/test_cuda --gtest_filter='*Sleep*:*Arena*:*MemoryBudget*' > "$OUT/test_cuda_sleep.log" 2>&1
say "test_cuda sleep/arena/budget rc=$?: $(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$OUT/test_cuda_sleep.log" | tr '\n' ' ')"
grep -E "^\[  FAILED  \]|free|MiB|GiB" "$OUT/test_cuda_sleep.log" | head -20 | tee -a "$SUMMARY"

timeout ${PYTEST_S:-240} python3 -m pytest -q -s python/tests/test_cuda_colocation.py python/tests/test_cuda_sampling.py \
  "python/tests/test_torch_colocation.py::test_import_order" > "$OUT/pytest_cuda.log" 2>&1
say "pytest cuda rc=$? at $SECONDS s: $(tail -1 "$OUT/pytest_cuda.log")"
grep -E "free GPU memory|after wake_up|FAILED|Error" "$OUT/pytest_cuda.log" | head -20 | tee -a "$SUMMARY"
if grep -q -E "Segmentation fault|Fatal Python error" "$OUT/pytest_cuda.log"; then
  # No gdb on that machine; cuda-gdb debugs host code too. Backtraces of every thread at the fault.
  timeout 300 cuda-gdb -batch -ex "set pagination off" -ex run -ex "thread apply all bt 30" --args python3 -m pytest \
    -q -s -x python/tests/test_cuda_colocation.py > "$OUT/crash_bt.log" 2>&1
  say "backtrace rc=$? in crash_bt.log"; grep -E "SIGSEGV|^#[0-9]" "$OUT/crash_bt.log" | head -25 | tee -a "$SUMMARY"
fi

timeout 180 torchrun --standalone --nproc-per-node=1 examples/torchrun_example.py --model "$F/tiny-opt" \
  --tensor-parallel-size 1 --device cuda --results /tmp/seed.jsonl > "$OUT/seed.log" 2>&1
say "seed script on cuda (torchrun, 1 rank) rc=$?: $(grep '^rank 0' "$OUT/seed.log")"
timeout 240 torchrun --standalone --nproc-per-node=1 examples/rlhf_colocate.py --model "$F/tiny-llama" \
  --device cuda --steps 3 --check > "$OUT/rlhf.log" 2>&1
rc=$?
say "rlhf_colocate on cuda rc=$rc"; grep -E "^step|^check" "$OUT/rlhf.log" | tee -a "$SUMMARY"
if (( rc != 0 )); then  # one rank: the script runs without torchrun too; backtraces of every thread at a fault
  timeout 240 cuda-gdb -batch -ex "set pagination off" -ex run -ex "thread apply all bt 25" --args python3 \
    examples/rlhf_colocate.py --model "$F/tiny-llama" --device cuda --steps 3 --check > "$OUT/rlhf_bt.log" 2>&1
  say "rlhf backtrace rc=$?"; grep -E "SIGSEGV|^#[0-9]|Error|error" "$OUT/rlhf_bt.log" | head -30 | tee -a "$SUMMARY"
fi
say "done at $SECONDS s"
