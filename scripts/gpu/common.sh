# Sourced ON THE GPU MACHINE by run_all.sh, decode_only.sh and full_run.sh, from the repository root:
# $OUT and its summary file ($SUMMARY, named by SUMMARY_NAME), say(), the carried .deb packages (deps.sh),
# NVLink multicast kept off, and copy_bandwidth (the card's device-to-device copy rate, for decode floors).
ROOT=$(pwd)
OUT=${OUT:-$ROOT/gpu-logs}
mkdir -p "$OUT"
SUMMARY=$OUT/${SUMMARY_NAME:-summary.txt}
: > "$SUMMARY"
say() { echo "== $*" | tee -a "$SUMMARY"; }
DEBS=$ROOT/.debs
PREFIX=/tmp/shardlm-deps
source scripts/gpu/deps.sh
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}
B=$ROOT/build-gpu/bin

# Configures build-gpu (Release, sm_90, no Python module) and builds the given targets; output to the log file.
# usage: build_gpu LOG TARGET...
build_gpu() {
  local log=$1
  shift
  cmake -S "$ROOT" -B "$ROOT/build-gpu" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DSHARDLM_WITH_PYTHON=OFF > "$log" 2>&1 && ninja -C "$ROOT/build-gpu" -j "$(nproc)" "$@" >> "$log" 2>&1
}

# A 2 GiB device-to-device copy through PyTorch, bytes read + written, median of 10.
copy_bandwidth() {
  python3 - <<'PY' | tee -a "$SUMMARY"
import torch
x = torch.empty(2 << 30, dtype=torch.uint8, device="cuda"); y = torch.empty_like(x)
for _ in range(3): y.copy_(x)
torch.cuda.synchronize(); s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
ts = []
for _ in range(10):
    s.record(); y.copy_(x); e.record(); torch.cuda.synchronize(); ts.append(s.elapsed_time(e) / 1e3)
ts.sort(); t = ts[len(ts) // 2]
print(f"copy bandwidth (2 GiB D2D, read+write): {2 * x.numel() / t / 1e12:.3f} TB/s")
PY
}
