#!/usr/bin/env bash
# Configures and builds into build/ (or $SHARDLM_BUILD_DIR): build/bin/shardlm, build/bin/shardlm-run, tests.
# Extra arguments go to cmake's configure step, e.g. scripts/build.sh -DSHARDLM_SANITIZE=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${SHARDLM_BUILD_DIR:-build}
JOBS=${SHARDLM_JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -G Ninja "$@"
cmake --build "$BUILD_DIR" -j "$JOBS"
