#!/usr/bin/env bash
# shardlm as a library other projects build on (issue #17). Installs a configured and built shardlm tree into a
# temporary prefix, then, as a user would:
#   1. checks the installed layout and compiles every installed public header alone with only the standard
#      library (-std=c++17, no other include folder);
#   2. builds tests/downstream with find_package(shardlm) (CMAKE_PREFIX_PATH=prefix) and with pkg-config;
#   3. runs both programs greedy on the tiny-opt fixture and compares their token ids with the installed
#      `shardlm generate --output-jsonl` for the same prompt (skipped loudly without the fixtures);
#   4. configures tests/downstream with add_subdirectory(shardlm) (tests, tools, examples, Python, CUDA off) and
#      compiles its main.cpp. --subdir full also builds the library that way and runs the program (about 5
#      minutes on 2 cores, hence not in CI); --subdir skip leaves step 4 out.
# Usage: tests/downstream/run.sh [--build DIR (default build)] [--subdir configure|full|skip]
# Fixtures: $SHARDLM_FIXTURES, else ../shared/fixtures beside the repository.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build
SUBDIR=configure
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --subdir) SUBDIR=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--subdir configure|full|skip]" >&2; exit 2 ;;
  esac
done
case "$SUBDIR" in configure|full|skip) ;; *) echo "--subdir: configure, full or skip, not '$SUBDIR'" >&2; exit 2 ;; esac
BUILD=$(cd "$BUILD" && pwd)
JOBS=${SHARDLM_JOBS:-$(nproc)}
CXX=${CXX:-c++}
FIXTURES=${SHARDLM_FIXTURES:-$ROOT/../shared/fixtures}
MODEL=$FIXTURES/models/tiny-opt
PROMPT="Hello, my name is"
MAX_TOKENS=8

WORK=$(mktemp -d "${TMPDIR:-/tmp}/shardlm-downstream.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
PREFIX=$WORK/prefix
step() { echo "--- downstream: $* ($SECONDS s)"; }
fail() { echo "downstream: FAILED: $*" >&2; exit 1; }

step "cmake --install $BUILD --prefix $PREFIX"
cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log" || { cat "$WORK/install.log"; fail "install"; }
LIBDIR=$(dirname "$(find "$PREFIX" -name 'shardlmConfig.cmake' -path '*/cmake/shardlm/*' -print -quit)")
LIBDIR=${LIBDIR%/cmake/shardlm}
[[ -d "$LIBDIR" ]] || fail "no shardlmConfig.cmake under $PREFIX"
for f in "$LIBDIR/libshardlm.so" "$LIBDIR/cmake/shardlm/shardlmConfigVersion.cmake" \
         "$LIBDIR/cmake/shardlm/shardlmTargets.cmake" "$LIBDIR/pkgconfig/shardlm.pc" \
         "$PREFIX/include/shardlm/llm.h" "$PREFIX/include/shardlm/version.h" "$PREFIX/bin/shardlm" \
         "$PREFIX/bin/shardlm-run"; do
  [[ -e "$f" ]] || fail "not installed: ${f#"$PREFIX"/}"
done
SONAME=$(objdump -p "$LIBDIR/libshardlm.so" | awk '/SONAME/ {print $2}')
[[ "$SONAME" == libshardlm.so.* && -e "$LIBDIR/$SONAME" ]] || fail "libshardlm.so's SONAME is '$SONAME'"
# shellcheck disable=SC2012  # a listing for the log
echo "installed: $(cd "$PREFIX" && ls -d bin/* include/shardlm/* "${LIBDIR#"$PREFIX"/}"/libshardlm* | tr '\n' ' ')"

step "public headers alone, C++17, standard library only"
for h in "$PREFIX"/include/shardlm/*.h; do
  echo "#include \"shardlm/$(basename "$h")\"" | "$CXX" -std=c++17 -Wall -Wextra -Werror -fsyntax-only \
    -I"$PREFIX/include" -x c++ - || fail "installed header $(basename "$h") does not compile on its own"
done

step "find_package(shardlm): configure and build tests/downstream"
cmake -S "$ROOT/tests/downstream" -B "$WORK/fp" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$PREFIX" >"$WORK/fp.log" || { cat "$WORK/fp.log"; fail "configure (find_package)"; }
grep "shardlm_downstream:" "$WORK/fp.log"
cmake --build "$WORK/fp" -j "$JOBS" >>"$WORK/fp.log" || { cat "$WORK/fp.log"; fail "build (find_package)"; }

step "pkg-config shardlm: build tests/downstream/main.cpp"
export PKG_CONFIG_PATH=$LIBDIR/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
PC_VERSION=$(pkg-config --modversion shardlm)
CONFIG_VERSION=$(sed -n 's/^#define SHARDLM_VERSION "\(.*\)"$/\1/p' "$PREFIX/include/shardlm/version.h")
[[ "$PC_VERSION" == "$CONFIG_VERSION" ]] || fail "shardlm.pc says $PC_VERSION, shardlm/version.h $CONFIG_VERSION"
# shellcheck disable=SC2046  # pkg-config's flags are meant to be split
"$CXX" -std=c++17 -O1 -o "$WORK/pc_downstream" "$ROOT/tests/downstream/main.cpp" \
  -DSHARDLM_DOWNSTREAM_EXPECTED_VERSION="\"$PC_VERSION\"" $(pkg-config --cflags --libs shardlm) \
  -Wl,-rpath,"$(pkg-config --variable=libdir shardlm)" || fail "build with pkg-config"

if [[ -d "$MODEL" ]]; then
  step "reference: installed shardlm generate on tiny-opt"
  "$PREFIX/bin/shardlm" generate --model "$MODEL" --device cpu --prompt "$PROMPT" --temperature 0 \
    --max-tokens "$MAX_TOKENS" --output-jsonl "$WORK/ref.jsonl" --no-progress >/dev/null || fail "shardlm generate"
  EXPECTED=$(python3 -c 'import json,sys; print(",".join(map(str, json.loads(open(sys.argv[1]).readline())["outputs"][0]["token_ids"])))' "$WORK/ref.jsonl")
  [[ -n "$EXPECTED" ]] || fail "the CLI generated no tokens"
  echo "shardlm generate: token_ids $EXPECTED"
  step "run the find_package build"
  "$WORK/fp/shardlm_downstream" "$MODEL" "$PROMPT" "$MAX_TOKENS" "$EXPECTED" || fail "find_package build's output"
  step "run the pkg-config build"
  "$WORK/pc_downstream" "$MODEL" "$PROMPT" "$MAX_TOKENS" "$EXPECTED" || fail "pkg-config build's output"
else
  EXPECTED=""
  echo "*** SKIPPING the downstream runs: fixtures not found at $FIXTURES (clone ../shared beside the repository) ***"
fi

if [[ "$SUBDIR" != skip ]]; then
  step "add_subdirectory(shardlm): configure tests/downstream"
  cmake -S "$ROOT/tests/downstream" -B "$WORK/sub" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DSHARDLM_DOWNSTREAM_MODE=add_subdirectory -DSHARDLM_SOURCE_DIR="$ROOT" -DSHARDLM_BUILD_TESTS=OFF \
    -DSHARDLM_BUILD_TOOLS=OFF -DSHARDLM_BUILD_EXAMPLES=OFF -DSHARDLM_WITH_PYTHON=OFF -DSHARDLM_WITH_CUDA=OFF \
    >"$WORK/sub.log" || { cat "$WORK/sub.log"; fail "configure (add_subdirectory)"; }
  grep "shardlm_downstream:" "$WORK/sub.log"
  if [[ "$SUBDIR" == configure ]]; then
    step "add_subdirectory(shardlm): compile main.cpp (--subdir full builds the library and runs it)"
    cmake --build "$WORK/sub" --target CMakeFiles/shardlm_downstream.dir/main.cpp.o >>"$WORK/sub.log" \
      || { cat "$WORK/sub.log"; fail "compile (add_subdirectory)"; }
  else
    step "add_subdirectory(shardlm): build the library and the program"
    cmake --build "$WORK/sub" -j "$JOBS" >>"$WORK/sub.log" || { tail -50 "$WORK/sub.log"; fail "build (add_subdirectory)"; }
    if [[ -n "$EXPECTED" ]]; then
      step "run the add_subdirectory build"
      "$WORK/sub/shardlm_downstream" "$MODEL" "$PROMPT" "$MAX_TOKENS" "$EXPECTED" || fail "add_subdirectory build's output"
    fi
  fi
fi
step "all passed"
