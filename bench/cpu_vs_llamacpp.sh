#!/usr/bin/env bash
# shardlm vs llama.cpp on the CPU: prefill of 128- and 512-token prompts and decode of 128 tokens at batch 1,
# on the same random-weight Llama of opt-125m's size (`shardlm make-model --preset llama-125m`), in F16 and
# F32, the same thread count for both, runs alternated ROUNDS times (the machine drifts), medians printed.
#
# llama.cpp comes from PyPI's llama-cpp-python sdist (it vendors llama.cpp): its vendored tree is built for
# llama-bench only, in a throwaway folder. The checkpoint is converted with bench/llama_to_gguf.py in a
# throwaway venv holding `gguf` and numpy (llama.cpp's convert_hf_to_gguf.py would need torch). Nothing is
# installed into the project.
#
# usage: bench/cpu_vs_llamacpp.sh            (from the repository root, after scripts/build.sh)
# env:   WORK (default /tmp/shardlm-vs-llamacpp), THREADS (2), ROUNDS (5), DTYPES ("f16 f32"),
#        SHARDLM (build/bin/shardlm), LLAMA_CPP_PYTHON_VERSION (0.3.36), MAKE_JOBS (2)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${WORK:-/tmp/shardlm-vs-llamacpp}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-5}
DTYPES=${DTYPES:-"f16 f32"}
SHARDLM=${SHARDLM:-$ROOT/build/bin/shardlm}
LCP_VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
MAKE_JOBS=${MAKE_JOBS:-2}
mkdir -p "$WORK"
[ -x "$SHARDLM" ] || { echo "missing $SHARDLM: run scripts/build.sh first" >&2; exit 1; }

# --- tools: venv with gguf + numpy; llama-bench from the llama-cpp-python sdist --------------------------
if [ ! -x "$WORK/venv/bin/python" ]; then
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install -q gguf numpy
fi
LCP_SRC="$WORK/llama_cpp_python-$LCP_VERSION"
if [ ! -d "$LCP_SRC" ]; then
  "$WORK/venv/bin/pip" download -q --no-deps --no-binary :all: -d "$WORK/sdist" "llama-cpp-python==$LCP_VERSION"
  tar xzf "$WORK/sdist/llama_cpp_python-$LCP_VERSION.tar.gz" -C "$WORK"
fi
LLAMA_DIR="$LCP_SRC/vendor/llama.cpp"
LLAMA_BENCH="$LLAMA_DIR/build/bin/llama-bench"
LLAMA_SIMPLE="$LLAMA_DIR/build/bin/llama-simple"  # greedy generation from a text prompt, for the output check
if [ ! -x "$LLAMA_BENCH" ] || [ ! -x "$LLAMA_SIMPLE" ]; then
  cmake -S "$LLAMA_DIR" -B "$LLAMA_DIR/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=ON -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF >/dev/null
  cmake --build "$LLAMA_DIR/build" --target llama-bench llama-simple -j "$MAKE_JOBS"
fi

# --- models: one checkpoint per dtype, and its GGUF ----------------------------------------------------
for dt in $DTYPES; do
  full=$([ "$dt" = f16 ] && echo float16 || echo float32)
  if [ ! -f "$WORK/llama-125m-$dt/config.json" ]; then
    "$SHARDLM" make-model --preset llama-125m --dtype "$full" --out "$WORK/llama-125m-$dt"
  fi
  if [ ! -f "$WORK/llama-125m-$dt.gguf" ]; then
    "$WORK/venv/bin/python" "$ROOT/bench/llama_to_gguf.py" "$WORK/llama-125m-$dt" "$WORK/llama-125m-$dt.gguf" --outtype "$dt"
  fi
done

# --- the two engines compute the same model: greedy continuations of the seed prompts must agree -------
# (random weights give nonsense text, but the same nonsense; a near-tie between two logits could flip a
# token late in a continuation, so a mismatch is reported, not fatal).
for dt in $DTYPES; do
  for prompt in "Hello, my name is" "The president of the United States is" "The capital of France is" "The future of AI is"; do
    ours=$("$SHARDLM" generate --model "$WORK/llama-125m-$dt" --prompt "$prompt" --temperature 0 --max-tokens 24 \
      --ignore-eos --no-progress --num-threads "$THREADS" --output-jsonl "$WORK/gen.jsonl" >/dev/null &&
      python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['outputs'][0]['text'])" "$WORK/gen.jsonl")
    theirs=$("$LLAMA_SIMPLE" -m "$WORK/llama-125m-$dt.gguf" -n 24 "$prompt" 2>/dev/null | head -1)
    theirs=${theirs#"<s>"}; theirs=${theirs#"$prompt"}
    if [ "$ours" = "$theirs" ]; then verdict=same; else verdict=DIFFERENT; fi
    echo "greedy $dt '$prompt': $verdict (shardlm '$ours' | llama.cpp '$theirs')"
  done
done

# --- one round of each, alternating ------------------------------------------------------------------
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
shardlm_latency() {  # dt input_len output_len -> median seconds of generating one batch-1 request
  local dt=$1 in=$2 out=$3 json="$WORK/lat.json"
  "$SHARDLM" bench latency --model "$WORK/llama-125m-$dt" --num-threads "$THREADS" --batch-size 1 \
    --input-len "$in" --output-len "$out" --num-iters 3 --num-iters-warmup 1 --no-enable-prefix-caching \
    --output-json "$json" >/dev/null
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['percentiles']['50'])" "$json"
}
for round in $(seq 1 "$ROUNDS"); do
  for dt in $DTYPES; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    "$LLAMA_BENCH" -m "$WORK/llama-125m-$dt.gguf" -t "$THREADS" -p 128,512 -n 128 -r 1 -o json 2>/dev/null |
      python3 -c "
import json, sys
for r in json.load(sys.stdin):
    test = f\"pp{r['n_prompt']}\" if r['n_gen'] == 0 else f\"tg{r['n_gen']}\"
    print(json.dumps({'engine': 'llama.cpp', 'dtype': '$dt', 'round': $round, 'test': test, 'tok_s': r['avg_ts'], 'load': $load}))
" >>"$RESULTS"
    load=$(cut -d' ' -f1 /proc/loadavg)
    p128=$(shardlm_latency "$dt" 128 1)
    p512=$(shardlm_latency "$dt" 512 1)
    d1=$(shardlm_latency "$dt" 8 1)
    d128=$(shardlm_latency "$dt" 8 128)
    python3 -c "
import json
r = dict(engine='shardlm', dtype='$dt', round=$round, load=$load)
for test, v in (('pp128', 128 / $p128), ('pp512', 512 / $p512), ('tg128', 127 / ($d128 - $d1))):
    print(json.dumps(dict(r, test=test, tok_s=v)))
" >>"$RESULTS"
    echo "round $round $dt done (load $load)" >&2
  done
done

# --- medians -----------------------------------------------------------------------------------------
python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'dtype':5} {'test':6} {'llama.cpp tok/s':>16} {'shardlm tok/s':>14} {'ratio':>6}   (medians of {max(r['round'] for r in rows)} rounds)")
for dt in sorted({r['dtype'] for r in rows}):
    for test in ('pp128', 'pp512', 'tg128'):
        med = {e: statistics.median(r['tok_s'] for r in rows if r['dtype'] == dt and r['test'] == test and r['engine'] == e)
               for e in ('llama.cpp', 'shardlm')}
        print(f"{dt:5} {test:6} {med['llama.cpp']:16.1f} {med['shardlm']:14.1f} {med['shardlm'] / med['llama.cpp']:6.2f}")
print("load average during rounds: min %.2f max %.2f" % (min(r['load'] for r in rows), max(r['load'] for r in rows)))
PY
echo "llama.cpp: llama-cpp-python $LCP_VERSION sdist, vendored llama.cpp $(cd "$LLAMA_DIR" && "$LLAMA_BENCH" --version 2>&1 | head -1 || true)"
echo "raw results: $RESULTS"
