#!/usr/bin/env bash
# Two CPU comparisons for docs/benchmarks.md, runs alternated ROUNDS times, medians printed:
#  1. llama-125m (F16): TP=2 under shardlm-run with one thread per rank vs TP=1 with two threads
#     (prefill of a 128-token prompt; decode of 128 tokens at batch 1).
#  2. `shardlm bench throughput` on an opt-125m-shaped model, this build vs BASE_SHARDLM (a build of an
#     earlier commit, e.g. the one before the AVX2 kernels), when BASE_SHARDLM is set.
# usage: bench/cpu_tp_and_throughput.sh   env: WORK (/tmp/shardlm-cpu-modes), ROUNDS (3), BASE_SHARDLM,
#        SHARDLM (build/bin/shardlm), NUM_PROMPTS (32)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${WORK:-/tmp/shardlm-cpu-modes}
ROUNDS=${ROUNDS:-3}
SHARDLM=${SHARDLM:-$ROOT/build/bin/shardlm}
RUN=$(dirname "$SHARDLM")/shardlm-run
NUM_PROMPTS=${NUM_PROMPTS:-32}
mkdir -p "$WORK"
for preset in llama-125m opt-125m; do
  [ -f "$WORK/$preset/config.json" ] || "$SHARDLM" make-model --preset "$preset" --out "$WORK/$preset" >/dev/null
done
median_of() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['percentiles']['50'])" "$1"; }
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
latency() {  # label input_len output_len "engine flags" [launcher args...] -> appends {label, in, out, seconds}
  local label=$1 in=$2 out=$3 flags=$4
  shift 4
  # shellcheck disable=SC2086
  "$@" "$SHARDLM" bench latency $flags --model "$WORK/llama-125m" --batch-size 1 --input-len "$in" --output-len "$out" \
    --num-iters 3 --num-iters-warmup 1 --no-enable-prefix-caching --output-json "$WORK/lat.json" >/dev/null
  echo "{\"kind\": \"latency\", \"label\": \"$label\", \"in\": $in, \"out\": $out, \"s\": $(median_of "$WORK/lat.json"), \"load\": $(cut -d' ' -f1 /proc/loadavg)}" >>"$RESULTS"
}
throughput() {  # label binary
  "$2" bench throughput --model "$WORK/opt-125m" --num-threads 2 --num-prompts "$NUM_PROMPTS" --input-len 128 \
    --output-len 128 --output-json "$WORK/tp.json" >/dev/null
  python3 -c "
import json; j = json.load(open('$WORK/tp.json'))
print(json.dumps({'kind': 'throughput', 'label': '$1', 'tok_s': j['tokens_per_second'], 'out_tok_s': j['output_tokens_per_second'], 'load': $(cut -d' ' -f1 /proc/loadavg)}))" >>"$RESULTS"
}
for round in $(seq 1 "$ROUNDS"); do
  for io in "128 1" "8 1" "8 128"; do
    set -- $io
    latency tp1x2 "$1" "$2" "--num-threads 2"
    latency tp2x1 "$1" "$2" "--num-threads 1 --tensor-parallel-size 2" "$RUN" --nproc-per-node 2
  done
  throughput after "$SHARDLM"
  [ -n "${BASE_SHARDLM:-}" ] && throughput before "$BASE_SHARDLM"
  echo "round $round done" >&2
done
python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(label, i, o):
    return statistics.median(r['s'] for r in rows if r['kind'] == 'latency' and r['label'] == label and r['in'] == i and r['out'] == o)
print("llama-125m F16, batch 1          prefill 128 tok/s   decode tok/s")
for label, name in (('tp1x2', 'TP=1, 2 threads'), ('tp2x1', 'TP=2, 1 thread per rank')):
    print(f"{name:32} {128 / med(label, 128, 1):18.1f} {127 / (med(label, 8, 128) - med(label, 8, 1)):14.1f}")
for label in ('before', 'after'):
    t = [r for r in rows if r['kind'] == 'throughput' and r['label'] == label]
    if t:
        print(f"bench throughput opt-125m ({label}): {statistics.median(r['tok_s'] for r in t):.1f} total tok/s, "
              f"{statistics.median(r['out_tok_s'] for r in t):.1f} output tok/s")
print("load average during rounds: min %.2f max %.2f" % (min(r['load'] for r in rows), max(r['load'] for r in rows)))
PY
