#!/usr/bin/env bash
# Runs ON THE GPU MACHINE from the repository root (device tool; carry .debs and .fixtures):
#   phase 1: deps, build into build-gpu/, CUDA op tests, fixture goldens on the GPU (bf16, fp16), stories260K
#            text, TP=2/TP=4 under PyTorch's real torchrun --no-python vs TP=1, copy bandwidth, opt-125m decode,
#            writes the llama-3-8b-shaped checkpoint to /tmp/l8b and times its batch-1 decode at TP=1.
#   phase 2: llama-3-8b batch-1 decode at TP=2 and TP=4, offline throughput, transformers' generate() baseline.
#   phase 3: offline throughput alone (NPROMPTS, default 200) on a fresh one-GPU machine.
# Logs and a summary go to $OUT. Usage: bash scripts/gpu/full_run.sh 1|2|3
set -uo pipefail
PHASE=${1:-1}
SUMMARY_NAME=summary$PHASE.txt
source scripts/gpu/common.sh
export SHARDLM_FIXTURES=$ROOT/.fixtures
F=$SHARDLM_FIXTURES/models
NGPU=$(nvidia-smi -L | wc -l)
say "phase $PHASE on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1) x$NGPU, $(date -u +%FT%TZ), commit $(cat COMMIT 2>/dev/null)"

if [[ $PHASE == 1 ]]; then
  T0=$SECONDS
  build_gpu "$OUT/build.log" shardlm shardlm-run test_cuda test_models
  say "build rc=$? in $((SECONDS - T0)) s"; tail -3 "$OUT/build.log" | tee -a "$SUMMARY"

  # test_cuda includes the CUDA-graph tests (decode_graphs_test: runner logits and engine generations against
  # enforce_eager; TP=2 through shardlm-run when two GPUs are visible).
  timeout 300 $B/test_cuda > "$OUT/tests.log" 2>&1
  say "test_cuda rc=$? $(grep -E '^\[  (PASSED|FAILED) ' "$OUT/tests.log" | tr '\n' ' ')"
  for dt in bfloat16 float16 float32; do
    SHARDLM_TEST_DEVICE=cuda SHARDLM_TEST_DTYPE=$dt timeout 120 $B/test_models >> "$OUT/tests.log" 2>&1
    say "test_models on cuda $dt rc=$? $(grep -E '^\[  (PASSED|FAILED) ' "$OUT/tests.log" | tail -1)"
  done
  $B/shardlm generate --model $F/stories260K --prompt-token-ids 1 --temperature 0 --max-tokens 200 --device cuda \
    --dtype float32 --no-progress --output-jsonl /tmp/st.jsonl > /dev/null 2>> "$OUT/tests.log"
  python3 - "$F/stories260K/golden.json" /tmp/st.jsonl <<'PY' | tee -a "$SUMMARY"
import json, sys
g = json.load(open(sys.argv[1])); o = json.loads(open(sys.argv[2]).readline())["outputs"][0]
print("stories260K on cuda f32: ids equal golden:", o["token_ids"] == g["ids"], "| text equal:", o["text"] == g["text"])
PY

  # TP=N under real torchrun against TP=1, fp32 on the GPU (bitwise-stable reductions aside, tokens must agree).
  IDS="--prompt-token-ids 2,40307,43586 --prompt-token-ids 2,100,200,300,400,500,600"
  GEN="generate --model $F/tiny-opt $IDS --temperature 0 --max-tokens 24 --ignore-eos --logprobs 1 --no-progress --device cuda --dtype float32"
  $B/shardlm $GEN --output-jsonl /tmp/tp1.jsonl > /dev/null 2>> "$OUT/tests.log"
  for N in 2 4; do
    (( N > NGPU )) && { say "TP=$N skipped: $NGPU GPUs"; continue; }
    timeout 120 torchrun --standalone --nproc-per-node=$N --no-python $B/shardlm $GEN --tensor-parallel-size $N \
      --output-jsonl "/tmp/tp$N.{rank}.jsonl" > "$OUT/torchrun$N.log" 2>&1
    rc=$?
    python3 - $N <<'PY' | tee -a "$SUMMARY"
import json, sys
n = int(sys.argv[1])
files = [open(f"/tmp/tp{n}.{r}.jsonl").read() for r in range(n)]
one = [json.loads(l)["outputs"][0]["token_ids"] for l in open("/tmp/tp1.jsonl")]
got = [json.loads(l)["outputs"][0]["token_ids"] for l in files[0].splitlines()]
print(f"torchrun TP={n}: ranks identical: {all(f == files[0] for f in files)}; greedy tokens equal TP=1: {got == one}")
PY
    say "torchrun TP=$N rc=$rc"
  done

  copy_bandwidth

  # Decode latency with CUDA graphs (the default) and with --enforce-eager, back to back on the same GPU.
  $B/shardlm make-model --preset opt-125m --out /tmp/opt125 > /dev/null
  for MODE in graphs eager; do
    FLAG=$([[ $MODE == eager ]] && echo --enforce-eager)
    $B/shardlm bench latency --model /tmp/opt125 --batch-size 1 --input-len 32 --output-len 128 --num-iters 5 --num-iters-warmup 1 \
      --device cuda $FLAG 2>&1 | grep -E "Avg|50%|Per output|CUDA graphs|error" | sed "s/^/opt-125m b1 TP=1 $MODE: /" | tee -a "$SUMMARY"
  done
  T0=$SECONDS
  $B/shardlm make-model --preset llama-3-8b --out /tmp/l8b > /dev/null && say "llama-3-8b written in $((SECONDS - T0)) s"
  for MODE in graphs eager; do
    FLAG=$([[ $MODE == eager ]] && echo --enforce-eager)
    $B/shardlm bench latency --model /tmp/l8b --batch-size 1 --input-len 32 --output-len 128 --num-iters 3 --num-iters-warmup 1 \
      --max-model-len 4096 --device cuda $FLAG 2>&1 | grep -E "Avg|50%|Per output|CUDA graphs|error" |
      sed "s/^/llama-3-8b b1 TP=1 $MODE: /" | tee -a "$SUMMARY"
  done
fi

if [[ $PHASE == 2 ]]; then
  for N in 2 4; do
    (( N > NGPU )) && continue
    for MODE in graphs eager; do
      FLAG=$([[ $MODE == eager ]] && echo --enforce-eager)
      timeout 200 torchrun --standalone --nproc-per-node=$N --no-python $B/shardlm bench latency --model /tmp/l8b \
        --batch-size 1 --input-len 32 --output-len 128 --num-iters 3 --num-iters-warmup 1 --max-model-len 4096 --device cuda \
        --tensor-parallel-size $N $FLAG > "$OUT/lat_tp$N.$MODE.log" 2>&1
      grep -E "Avg|50%|Per output|CUDA graphs|error" "$OUT/lat_tp$N.$MODE.log" | sed "s/^/llama-3-8b b1 TP=$N $MODE: /" |
        tee -a "$SUMMARY"
    done
  done
  timeout 300 $B/shardlm bench throughput --model /tmp/l8b --num-prompts ${NPROMPTS:-1000} --input-len 256 \
    --output-len 256 --max-model-len 1024 --device cuda --output-json "$OUT/throughput.json" > "$OUT/throughput.log" 2>&1
  say "throughput rc=$?"; grep -E "Throughput|Elapsed|preempt|CUDA graphs" "$OUT/throughput.log" | tee -a "$SUMMARY"
  timeout 200 python3 - <<'PY' 2>&1 | tail -4 | tee -a "$SUMMARY"
import time, torch
from transformers import AutoModelForCausalLM
for path, new in (("/tmp/opt125", 128), ("/tmp/l8b", 128)):
    m = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16).cuda().eval()
    ids = torch.randint(4, 1000, (1, 32), device="cuda")
    m.generate(ids, max_new_tokens=8, min_new_tokens=8, do_sample=False)
    torch.cuda.synchronize(); t = time.time()
    m.generate(ids, max_new_tokens=new, min_new_tokens=new, do_sample=False)
    torch.cuda.synchronize(); dt = time.time() - t
    print(f"transformers generate() {path} b1 bf16: {1000 * dt / new:.2f} ms per output token")
    del m; torch.cuda.empty_cache()
PY
fi
if [[ $PHASE == 3 ]]; then
  # Offline throughput alone on a fresh machine: build, write the checkpoint, run NPROMPTS prompts.
  build_gpu "$OUT/build.log" shardlm
  say "build rc=$? at $SECONDS s"
  $B/shardlm make-model --preset llama-3-8b --out /tmp/l8b > /dev/null && say "llama-3-8b written at $SECONDS s"
  timeout 360 $B/shardlm bench throughput --model /tmp/l8b --num-prompts ${NPROMPTS:-200} --input-len 256 \
    --output-len 256 --max-model-len 1024 --device cuda --output-json "$OUT/throughput.json" > "$OUT/throughput.log" 2>&1
  say "throughput (${NPROMPTS:-200} prompts) rc=$?"; grep -E "Throughput|Elapsed|steps" "$OUT/throughput.log" | tee -a "$SUMMARY"
fi
say "done in $SECONDS s"
