#!/usr/bin/env bash
# shardlm as a Python user installs it (issue #17): `pip install .` into a fresh virtualenv (no system site
# packages; pip's build isolation fetches scikit-build-core, pybind11 and numpy from PyPI, or pip's cache), then,
# from outside the repository:
#   1. the installed layout: shardlm/_shardlm*.so and shardlm/bin/* find shardlm/libshardlm.so (ldd), and the
#      shardlm and shardlm-run commands are on the virtualenv's PATH;
#   2. `shardlm --version` and shardlm.__version__ are the build's CMAKE_PROJECT_VERSION (project() in
#      CMakeLists.txt);
#   3. the seed example, examples/torchrun_example.py at tensor_parallel_size 2 under the installed shardlm-run,
#      writes the same results as the same script run from the build tree (--build DIR) with the same seed.
#      torch for step 3 is the project's .venv's (a .pth file in the new virtualenv, added after steps 1-2, appends
#      its site-packages to sys.path): installing PyPI's CUDA torch again would add about 4 GB and minutes.
# The wheel compiles in build-wheel/ beside build/ through ccache (cmake/compiler_cache.cmake) with the same
# flags (pyproject.toml's cmake.build-type), so after scripts/build.sh most objects come from the cache; the
# script prints ccache's hits and misses for the wheel.
# Usage: tests/wheel/run.sh [--build DIR (default build)]
# Fixtures: $SHARDLM_FIXTURES, else ../shared/fixtures beside the repository (step 3 skips loudly without them).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR]" >&2; exit 2 ;;
  esac
done
BUILD=$(cd "$BUILD" && pwd)
FIXTURES=${SHARDLM_FIXTURES:-$ROOT/../shared/fixtures}
MODEL=$FIXTURES/models/tiny-opt
PROJECT_VENV=${SHARDLM_VENV:-$ROOT/.venv}
[[ "$PROJECT_VENV" = /* ]] || PROJECT_VENV=$ROOT/$PROJECT_VENV

WORK=$(mktemp -d "${TMPDIR:-/tmp}/shardlm-wheel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
VENV=$WORK/venv
step() { echo "--- wheel: $* ($SECONDS s)"; }
fail() { echo "wheel: FAILED: $*" >&2; exit 1; }
ccache_counts() {  # hits misses, or "- -" without ccache
  if command -v ccache > /dev/null; then
    ccache --print-stats | awk '/^(direct|preprocessed)_cache_hit\t/ {h += $2} /^cache_miss\t/ {m = $2} END {print h, m}'
  else
    echo "- -"
  fi
}

step "python3 -m venv $VENV; pip install $ROOT (build-wheel/)"
/usr/bin/python3 -m venv "$VENV"
read -r HITS0 MISSES0 < <(ccache_counts)
SKBUILD_BUILD_DIR=$ROOT/build-wheel "$VENV/bin/python" -m pip install --disable-pip-version-check "$ROOT" \
  > "$WORK/pip.log" 2>&1 || { tail -60 "$WORK/pip.log"; fail "pip install $ROOT"; }
read -r HITS1 MISSES1 < <(ccache_counts)
[[ $HITS0 == - ]] || echo "ccache for the wheel: $((HITS1 - HITS0)) hits, $((MISSES1 - MISSES0)) misses"
grep -E "^Successfully installed" "$WORK/pip.log"

cd "$WORK"  # nothing of the repository on sys.path from here on
step "installed layout"
SITE=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_path('platlib'))")
PKG=$SITE/shardlm
for f in "$PKG"/_shardlm*.so "$PKG/libshardlm.so" "$PKG/bin/shardlm" "$PKG/bin/shardlm-run" "$PKG/_version.py" \
         "$PKG/py.typed" "$PKG/distributed/__init__.py" "$VENV/bin/shardlm" "$VENV/bin/shardlm-run"; do
  [[ -e "$f" ]] || fail "not installed: $f"
done
for f in "$PKG"/_shardlm*.so "$PKG/bin/shardlm" "$PKG/bin/shardlm-run"; do
  resolved=$(ldd "$f" | awk '$1 == "libshardlm.so" {print $3}')
  [[ -n "$resolved" && $(realpath "$resolved") == $(realpath "$PKG/libshardlm.so") ]] ||
    fail "$f loads libshardlm.so from '$resolved', not from $PKG"
done

step "versions"
EXPECTED=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD/CMakeCache.txt")
CLI_VERSION=$(PATH=$VENV/bin:$PATH shardlm --version)
PY_VERSION=$("$VENV/bin/python" -c "import shardlm; assert shardlm.__file__.startswith('$PKG'), shardlm.__file__; print(shardlm.__version__)")
DIST_VERSION=$("$VENV/bin/python" -c "from importlib.metadata import version; print(version('shardlm'))")
echo "project() $EXPECTED, shardlm --version $CLI_VERSION, shardlm.__version__ $PY_VERSION, wheel metadata $DIST_VERSION"
[[ "$CLI_VERSION" == "$EXPECTED" && "$PY_VERSION" == "$EXPECTED" && "$DIST_VERSION" == "$EXPECTED" ]] ||
  fail "the versions disagree"

if [[ ! -d "$MODEL" ]]; then
  echo "SKIPPED LOUDLY: fixtures not found at $FIXTURES: the seed example did not run"
  exit 0
fi
step "the seed example at TP=2 from the build tree (reference)"
EXAMPLE=(examples/torchrun_example.py --model "$MODEL" --tensor-parallel-size 2 --device cpu)
PYTHONPATH=$BUILD/python "$BUILD/bin/shardlm-run" --nproc-per-node=2 "$PROJECT_VENV/bin/python" \
  "$ROOT/${EXAMPLE[0]}" "${EXAMPLE[@]:1}" --results "$WORK/reference.txt" > "$WORK/reference.log" 2>&1 ||
  { cat "$WORK/reference.log"; fail "the seed example from the build tree"; }
step "the seed example at TP=2 from the installed package, under the installed shardlm-run"
TORCH_SITE=$("$PROJECT_VENV/bin/python" -c "import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))")
echo "$TORCH_SITE" > "$SITE/project-venv-torch.pth"
env -u PYTHONPATH PATH="$VENV/bin:$PATH" shardlm-run --nproc-per-node=2 python "$ROOT/${EXAMPLE[0]}" \
  "${EXAMPLE[@]:1}" --results "$WORK/installed.txt" > "$WORK/installed.log" 2>&1 ||
  { cat "$WORK/installed.log"; fail "the seed example from the installed package"; }
[[ -s "$WORK/installed.txt" ]] || fail "the installed run wrote no results"
[[ $(grep -c "same outputs on all ranks: True" "$WORK/installed.log") == 2 ]] ||
  { cat "$WORK/installed.log"; fail "the two ranks of the installed run did not report the same outputs"; }
diff "$WORK/reference.txt" "$WORK/installed.txt" || fail "the installed package's results differ from the build tree's"
echo "seed example: $(wc -l < "$WORK/installed.txt") results, the same from the wheel as from the build tree"
step "passed"
