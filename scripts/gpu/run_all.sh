#!/usr/bin/env bash
# Runs ON THE GPU MACHINE (device tool, kind nvidia-h100-x4; carry .debs and .fixtures), everything of issue #7
# in one call, most important first, each step time-boxed so that a call cut short still returns what it did:
#   build; test_cuda (ops, sampler, graphs); fixture goldens on CUDA; copy bandwidth; opt-125m and llama-3-8b
#   batch-1 decode with CUDA graphs and --enforce-eager; llama-3-8b at TP=2/4 under torchrun; offline
#   throughput (NPROMPTS, default 1000). Logs and summary.txt go to $OUT. SKIP_TESTS=1 runs the benchmarks only.
# usage: OUT=$OUT bash scripts/gpu/run_all.sh
set -uo pipefail
source scripts/gpu/common.sh
export SHARDLM_FIXTURES=$ROOT/.fixtures
F=$SHARDLM_FIXTURES/models
NGPU=$(nvidia-smi -L | wc -l)
say "on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1) x$NGPU, $(date -u +%FT%TZ), commit $(cat COMMIT 2>/dev/null)"

build_gpu "$OUT/build.log" shardlm shardlm-run test_cuda test_models
say "build rc=$? at $SECONDS s"; grep -E "error|FAILED" "$OUT/build.log" | head -5 | tee -a "$SUMMARY"

# Heavy checkpoint written in the background while the tests run (it only needs the CPU and the disk).
( $B/shardlm make-model --preset llama-3-8b --out /tmp/l8b > "$OUT/make8b.log" 2>&1; echo "rc=$? at $SECONDS" >> "$OUT/make8b.log" ) &
MAKE8B=$!

if [[ -z ${SKIP_TESTS:-} ]]; then  # SKIP_TESTS=1: benchmarks only
timeout ${TEST_CUDA_S:-150} $B/test_cuda > "$OUT/test_cuda.log" 2>&1
say "test_cuda rc=$? at $SECONDS s: $(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$OUT/test_cuda.log" | tr '\n' ' ')"
grep -E "^\[  FAILED  \]" "$OUT/test_cuda.log" | head -20 | tee -a "$SUMMARY"
for dt in bfloat16 float32; do
  SHARDLM_TEST_DEVICE=cuda SHARDLM_TEST_DTYPE=$dt timeout 90 $B/test_models > "$OUT/test_models_$dt.log" 2>&1
  say "test_models on cuda $dt rc=$? $(grep -E '^\[  (PASSED|FAILED) ' "$OUT/test_models_$dt.log" | tr '\n' ' ')"
done
IDS="--prompt-token-ids 2,40307,43586 --prompt-token-ids 2,100,200,300,400,500,600"
GEN="generate --model $F/tiny-opt $IDS --temperature 0 --max-tokens 24 --ignore-eos --logprobs 1 --no-progress --device cuda --dtype float32"
$B/shardlm $GEN --output-jsonl /tmp/tp1.jsonl > /dev/null 2>> "$OUT/tp.log"
for N in 2 4; do
  (( N > NGPU )) && continue
  timeout 90 torchrun --standalone --nproc-per-node=$N --no-python $B/shardlm $GEN --tensor-parallel-size $N \
    --output-jsonl "/tmp/tp$N.{rank}.jsonl" >> "$OUT/tp.log" 2>&1
  rc=$?
  python3 - $N $rc <<'PY' | tee -a "$SUMMARY"
import json, sys
n, rc = int(sys.argv[1]), sys.argv[2]
try:
    files = [open(f"/tmp/tp{n}.{r}.jsonl").read() for r in range(n)]
    one = [json.loads(l)["outputs"][0]["token_ids"] for l in open("/tmp/tp1.jsonl")]
    got = [json.loads(l)["outputs"][0]["token_ids"] for l in files[0].splitlines()]
    print(f"torchrun TP={n} (graphs) rc={rc}: ranks identical: {all(f == files[0] for f in files)}; greedy equal TP=1: {got == one}")
except Exception as e:
    print(f"torchrun TP={n} rc={rc}: {e}")
PY
done

fi
copy_bandwidth

lat() {  # label, extra args...
  local label=$1; shift
  "$@" 2>&1 | grep -E "Avg|50%|Per output|CUDA graphs|rror" | sed "s/^/$label: /" | tee -a "$SUMMARY"
}
$B/shardlm make-model --preset opt-125m --out /tmp/opt125 > /dev/null
for MODE in graphs eager; do
  FLAG=$([[ $MODE == eager ]] && echo --enforce-eager)
  lat "opt-125m b1 TP=1 $MODE" timeout 60 $B/shardlm bench latency --model /tmp/opt125 --batch-size 1 --input-len 32 \
    --output-len 128 --num-iters 5 --num-iters-warmup 1 --device cuda $FLAG
done

wait $MAKE8B
say "llama-3-8b checkpoint: $(tail -1 "$OUT/make8b.log") (now $SECONDS s)"
L8="--model /tmp/l8b --batch-size 1 --input-len 32 --output-len 128 --num-iters 3 --num-iters-warmup 1 --max-model-len 4096 --device cuda"
for MODE in graphs eager; do
  FLAG=$([[ $MODE == eager ]] && echo --enforce-eager)
  lat "llama-3-8b b1 TP=1 $MODE" timeout 90 $B/shardlm bench latency $L8 $FLAG
done
for N in 2 4; do
  (( N > NGPU )) && continue
  lat "llama-3-8b b1 TP=$N graphs" timeout 120 torchrun --standalone --nproc-per-node=$N --no-python $B/shardlm bench latency \
    $L8 --tensor-parallel-size $N
done
say "throughput start at $SECONDS s"
timeout ${THROUGHPUT_S:-150} $B/shardlm bench throughput --model /tmp/l8b --num-prompts ${NPROMPTS:-1000} --input-len 256 \
  --output-len 256 --max-model-len 1024 --device cuda --output-json "$OUT/throughput.json" > "$OUT/throughput.log" 2>&1
say "throughput (${NPROMPTS:-1000} prompts) rc=$?"; grep -E "Throughput|Elapsed|preempt|CUDA graphs|steps|rror" "$OUT/throughput.log" | tee -a "$SUMMARY"
say "done in $SECONDS s"
