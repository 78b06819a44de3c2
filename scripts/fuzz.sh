#!/usr/bin/env bash
# Fuzzes the parsers of untrusted files with clang's libFuzzer under ASan+UBSan: each target in tests/fuzz/
# for FUZZ_SECONDS (default 60) from a copy of its seed corpus (the tree's corpus is not modified). Findings
# (crash-*, leak-*, timeout-*, oom-* files) are left in the build folder and make the script fail.
#   scripts/fuzz.sh [TARGET...]          e.g. FUZZ_SECONDS=600 scripts/fuzz.sh safetensors
# CI runs it for 10 s a target (scripts/test.sh); README "Tests" says how to run longer.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang++ > /dev/null; then
  echo "fuzz: clang++ is not installed (Debian: clang); nothing fuzzed" >&2
  exit 0
fi
BUILD=${SHARDLM_FUZZ_BUILD_DIR:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
cmake -S tests/fuzz -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug > /dev/null
cmake --build "$BUILD" -j "${SHARDLM_JOBS:-$(nproc)}" > "$BUILD/build.log" 2>&1 || { tail -30 "$BUILD/build.log"; exit 1; }
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for f in tests/fuzz/*_fuzz.cpp; do t=$(basename "$f" _fuzz.cpp); targets+=("$t"); done
fi
status=0
for t in "${targets[@]}"; do
  work="$BUILD/run-$t"
  rm -rf "$work" && mkdir -p "$work/corpus" && cp tests/fuzz/corpus/"$t"/* "$work/corpus/"
  # -rss_limit_mb and -timeout turn runaway memory and hangs into findings; -max_len covers the seeds.
  if (cd "$work" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "../${t}_fuzz" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
        -print_final_stats=1 corpus > log.txt 2>&1); then
    echo "fuzz: $t: $(grep -E '^stat::number_of_executed_units' "$work/log.txt" | awk '{print $2}') inputs in ${SECONDS_EACH} s, no finding"
  else
    echo "fuzz: $t: FINDING (see $work/log.txt and the crash-* file there):"
    grep -E "ERROR|SUMMARY|Test unit written" "$work/log.txt" | head -5
    status=1
  fi
done
exit $status
