#!/usr/bin/env bash
# The main job: vLLM's torchrun example (four prompts, temperature 0.8, top_p 0.95) at tensor_parallel_size 2,
# two processes started by shardlm-run. Uses facebook/opt-125m from the Hugging Face cache when present,
# else MODEL=DIR, else writes a random-weight opt-125m-shaped checkpoint to models/opt-125m-random.
#   scripts/run_example.sh                 # TP=2 on whatever model is found
#   MODEL=/path/to/opt NPROC=1 scripts/run_example.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NPROC=${NPROC:-2}
if [[ ! -x build/bin/torchrun_example || ! -x build/bin/shardlm-run ]]; then
  scripts/setup.sh
  scripts/build.sh
fi
MODEL=${MODEL:-}
if [[ -z "$MODEL" ]]; then
  HUB=${HF_HUB_CACHE:-${HF_HOME:-$HOME/.cache/huggingface}/hub}
  if [[ -d "$HUB/models--facebook--opt-125m/snapshots" ]]; then
    MODEL=facebook/opt-125m
  else
    MODEL=models/opt-125m-random
    if [[ ! -f "$MODEL/model.safetensors" ]]; then
      echo "facebook/opt-125m is not in the Hugging Face cache; writing a random-weight opt-125m to $MODEL"
      build/bin/shardlm make-model --preset opt-125m --out "$MODEL"
    fi
  fi
fi
exec build/bin/shardlm-run --nproc-per-node="$NPROC" build/bin/torchrun_example --model "$MODEL" \
  --tensor-parallel-size "$NPROC" --results torchrun_example_results.txt
