#!/usr/bin/env bash
# Installs the Debian packages, builds, and runs every test: the normal build, then an ASan+UBSan build.
# This is what CI runs (.ci/run). Set SHARDLM_SKIP_SANITIZERS=1 to run only the normal build's tests,
# SHARDLM_SKIP_FUZZ=1 to skip the short fuzzing run at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
JOBS=${SHARDLM_JOBS:-$(nproc)}

echo "=== build (RelWithDebInfo) ==="
SHARDLM_BUILD_DIR=build scripts/build.sh
echo "=== tests ==="
(cd build && ctest --output-on-failure -j "$JOBS" --timeout 600)
PY=${SHARDLM_VENV:-.venv}/bin/python  # scripts/setup.sh made it: Debian's python3 with PyPI's torch
if [[ -d build/python ]]; then
  echo "=== python tests ==="
  PYTHONPATH=build/python "$PY" -m pytest -q python/tests
fi
echo "=== downstream: a program built on the installed library (find_package, pkg-config, add_subdirectory) ==="
tests/downstream/run.sh --build build
echo "=== wheel: pip install . into a fresh virtualenv, the seed example from the installed package ==="
tests/wheel/run.sh --build build

if [[ "${SHARDLM_SKIP_SANITIZERS:-0}" != "1" ]]; then
  echo "=== build (ASan + UBSan) ==="
  SHARDLM_BUILD_DIR=build-asan scripts/build.sh -DSHARDLM_SANITIZE=ON -DSHARDLM_WITH_CUDA=OFF -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g"
  echo "=== tests under ASan + UBSan ==="
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j "$JOBS" --timeout 900)
  if [[ -d build-asan/python ]]; then
    echo "=== python tests under ASan + UBSan ==="
    # The interpreter is not instrumented: the sanitizer runtime must be loaded first, with libstdc++ (ASan
    # intercepts __cxa_throw through it); the interpreter's own allocations at exit are not leaks of ours.
    LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)" ASAN_OPTIONS=detect_leaks=0 \
      SHARDLM_BUILD_DIR=build-asan PYTHONPATH=build-asan/python "$PY" -m pytest -q python/tests
  fi
fi
if [[ "${SHARDLM_SKIP_FUZZ:-0}" != "1" ]]; then
  echo "=== fuzzing (libFuzzer, ASan+UBSan, ${FUZZ_SECONDS:-10} s a target) ==="
  FUZZ_SECONDS=${FUZZ_SECONDS:-10} scripts/fuzz.sh
fi
echo "=== all tests passed ==="
