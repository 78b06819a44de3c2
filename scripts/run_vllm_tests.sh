#!/usr/bin/env bash
# Runs vLLM's own tests and examples against shardlm with only imports and model ids changed (docs/vllm-tests.md):
#   scripts/run_vllm_tests.sh VLLM_CHECKOUT [FILE ...] [--keep DIR] [-- PYTEST_ARGS]
# FILE: paths inside the checkout (default: the list in python/shardlm/testing/vllm_rewrite.py). The package
# comes from $SHARDLM_BUILD_DIR/python (default build/python) unless PYTHONPATH says otherwise; the interpreter
# is $PYTHON (default: the repository's .venv, else python3); fixtures are $SHARDLM_FIXTURES (../shared/fixtures).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${SHARDLM_BUILD_DIR:-build}
[[ $build = /* ]] || build=$repo/$build
if [[ -z ${PYTHON:-} ]]; then
  for candidate in "$repo/.venv/bin/python"; do
    [[ -x $candidate ]] && { PYTHON=$candidate; break; }
  done
fi
export PYTHONPATH=${PYTHONPATH:-$build/python}
export SHARDLM_FIXTURES=${SHARDLM_FIXTURES:-$repo/../shared/fixtures}
export SHARDLM_BIN=${SHARDLM_BIN:-$build/bin/shardlm}
exec "${PYTHON:-python3}" -m shardlm.testing.vllm_rewrite "$@"
