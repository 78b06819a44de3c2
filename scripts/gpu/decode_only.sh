#!/usr/bin/env bash
# Runs ON THE GPU MACHINE (device tool; carry .debs): batch-1 decode time per step without the prompt's
# prefill, as the CPU benchmark measures it: (latency(32 in, 128 out) - latency(32 in, 1 out)) / 127, for
# opt-125m and llama-3-8b, CUDA graphs on, plus the copy bandwidth for the floor. Summary in $OUT/summary.txt.
set -uo pipefail
source scripts/gpu/common.sh
say "on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(date -u +%FT%TZ), commit $(cat COMMIT 2>/dev/null)"
build_gpu "$OUT/build.log" shardlm
say "build rc=$? at $SECONDS s"
( $B/shardlm make-model --preset llama-3-8b --out /tmp/l8b > /dev/null 2>&1 ) &
MAKE=$!
copy_bandwidth
$B/shardlm make-model --preset opt-125m --out /tmp/opt125 > /dev/null
decode_step() {  # label model extra-args...
  local label=$1 model=$2; shift 2
  for out in 1 128; do
    $B/shardlm bench latency --model "$model" --batch-size 1 --input-len 32 --output-len $out --num-iters 5 --num-iters-warmup 1 \
      --device cuda --output-json "$OUT/lat_${label}_$out.json" "$@" > /dev/null 2>> "$OUT/errors.log"
  done
  python3 - "$label" "$OUT/lat_${label}_1.json" "$OUT/lat_${label}_128.json" <<'PY' | tee -a "$SUMMARY"
import json, sys
a = json.load(open(sys.argv[2]))["percentiles"]["50"]; b = json.load(open(sys.argv[3]))["percentiles"]["50"]
print(f"{sys.argv[1]}: request 32+1 {a * 1e3:.3f} ms, 32+128 {b * 1e3:.3f} ms, decode step {(b - a) / 127 * 1e3:.3f} ms")
PY
}
decode_step opt125-graphs /tmp/opt125
decode_step opt125-eager /tmp/opt125 --enforce-eager
wait $MAKE
decode_step l8b-graphs /tmp/l8b --max-model-len 4096
decode_step l8b-eager /tmp/l8b --max-model-len 4096 --enforce-eager
say "done in $SECONDS s"
