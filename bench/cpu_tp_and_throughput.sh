#!/usr/bin/env bash
# CPU tensor parallelism on one host, for docs/benchmarks.md: llama-125m F16, batch 1, prefix caching off,
#   TP=1 with two threads  vs  TP=2 under shardlm-run with one thread per rank, its tensor collectives through
#   shared memory (the default on one host) and, for comparison, through Gloo (SHARDLM_CPU_COLLECTIVES=gloo).
# Measured (issue #15's method): prefill of a 512-token prompt (latency of 1 output token); decode step =
# (latency of 65 tokens - latency of 1) / 64 after an 8-token prompt; `bench throughput` (NUM_PROMPTS prompts,
# 128 in / 128 out). The configurations alternate within each of ROUNDS rounds; medians are printed with the
# load average seen during the rounds.
# usage: bench/cpu_tp_and_throughput.sh   env: WORK (/tmp/shardlm-cpu-modes), ROUNDS (3), SHARDLM (build/bin/shardlm),
#        NUM_PROMPTS (16), GLOO (1: include the Gloo configuration)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${WORK:-/tmp/shardlm-cpu-modes}
ROUNDS=${ROUNDS:-3}
SHARDLM=${SHARDLM:-$ROOT/build/bin/shardlm}
RUN=$(dirname "$SHARDLM")/shardlm-run
NUM_PROMPTS=${NUM_PROMPTS:-16}
GLOO=${GLOO:-1}
MODEL=$WORK/llama-125m
mkdir -p "$WORK"
[ -f "$MODEL/config.json" ] || "$SHARDLM" make-model --preset llama-125m --out "$MODEL" >/dev/null
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
load() { cut -d' ' -f1 /proc/loadavg; }
# config -> the command prefix and engine flags
run_config() {  # config shardlm-subcommand args...
  local config=$1
  shift
  case $config in
    tp1x2) "$SHARDLM" "$@" --num-threads 2 ;;
    tp2x1) SHARDLM_CPU_COLLECTIVES=shm "$RUN" --nproc-per-node 2 "$SHARDLM" "$@" --num-threads 1 --tensor-parallel-size 2 ;;
    tp2x1-gloo) SHARDLM_CPU_COLLECTIVES=gloo "$RUN" --nproc-per-node 2 "$SHARDLM" "$@" --num-threads 1 --tensor-parallel-size 2 ;;
  esac
}
latency() {  # config input_len output_len -> appends {kind, config, in, out, s, load}
  run_config "$1" bench latency --model "$MODEL" --batch-size 1 --input-len "$2" --output-len "$3" --num-iters 5 \
    --num-iters-warmup 1 --no-enable-prefix-caching --output-json "$WORK/lat.json" >/dev/null
  python3 -c "
import json; j = json.load(open('$WORK/lat.json'))
print(json.dumps({'kind': 'latency', 'config': '$1', 'in': $2, 'out': $3, 's': j['percentiles']['50'], 'load': $(load)}))" >>"$RESULTS"
}
throughput() {  # config
  run_config "$1" bench throughput --model "$MODEL" --num-prompts "$NUM_PROMPTS" --input-len 128 --output-len 128 \
    --output-json "$WORK/tp.json" >/dev/null
  python3 -c "
import json; j = json.load(open('$WORK/tp.json'))
print(json.dumps({'kind': 'throughput', 'config': '$1', 'tok_s': j['tokens_per_second'], 'load': $(load)}))" >>"$RESULTS"
}
CONFIGS="tp1x2 tp2x1"
[ "$GLOO" = 1 ] && CONFIGS="$CONFIGS tp2x1-gloo"
for round in $(seq 1 "$ROUNDS"); do
  for config in $CONFIGS; do
    latency "$config" 512 1
    latency "$config" 8 1
    latency "$config" 8 65
    [ "$config" = tp2x1-gloo ] || throughput "$config"
  done
  echo "round $round done (load $(load))" >&2
done
python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(config, kind, key, **match):
    v = [r[key] for r in rows if r['kind'] == kind and r['config'] == config and all(r[k] == x for k, x in match.items())]
    return statistics.median(v) if v else None
names = {'tp1x2': 'TP=1, 2 threads', 'tp2x1': 'TP=2 shm, 1 thread/rank', 'tp2x1-gloo': 'TP=2 Gloo, 1 thread/rank'}
base = {}
print(f"{'llama-125m F16, batch 1':28} {'prefill 512 tok/s':>18} {'decode ms/step':>15} {'decode tok/s':>13} {'throughput tok/s':>17}")
for config, name in names.items():
    if med(config, 'latency', 's', **{'in': 8, 'out': 1}) is None:
        continue
    prefill = 512 / med(config, 'latency', 's', **{'in': 512, 'out': 1})
    step = (med(config, 'latency', 's', **{'in': 8, 'out': 65}) - med(config, 'latency', 's', **{'in': 8, 'out': 1})) / 64
    tput = med(config, 'throughput', 'tok_s')
    vals = (prefill, 1 / step, tput)
    if config == 'tp1x2':
        base = dict(zip(('prefill', 'decode', 'tput'), vals))
    ratio = lambda v, k: f" ({v / base[k]:.2f}x)" if base and v else ""
    print(f"{name:28} {prefill:10.1f}{ratio(prefill, 'prefill'):>8} {step * 1000:15.2f} {1 / step:6.1f}{ratio(1 / step, 'decode'):>7} "
          + (f"{tput:10.1f}{ratio(tput, 'tput'):>7}" if tput else f"{'-':>17}"))
loads = [r['load'] for r in rows]
print(f"load average during the rounds: min {min(loads):.2f}, median {statistics.median(loads):.2f}, max {max(loads):.2f} "
      f"({len(rows)} runs)")
PY
