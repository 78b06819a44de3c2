#!/usr/bin/env bash
# Temporary (not kept): where does libshardlm.so's code for ostream<<double come from, and does formatting a
# double crash in a process with torch and two CUDA engines.
set -uo pipefail
OUT=${OUT:-/tmp/diag}; mkdir -p "$OUT"
L=build-gpu/lib/libshardlm.so
{ echo "--- ldd"; ldd $L | grep -E "stdc|cudart|nccl|cublas|gcc"; echo "--- defined std:: symbols in $L:"
  nm -C --defined-only $L | grep -c " std::"; nm -C --defined-only $L | grep -E "_M_insert<double>|read_utf8|codecvt<char16" | head
  echo "--- dynamic defined"; nm -C -D --defined-only $L | grep -E "_M_insert<double>|codecvt" | head
  echo "--- CUDA runtime"; grep -o "cudart[_a-z]*" build-gpu/build.ninja | sort | uniq -c
  echo "--- objects defining _M_insert<double>"; for o in $(find build-gpu/CMakeFiles/shardlm_lib.dir -name '*.o'); do nm -C --defined-only $o 2>/dev/null | grep -q "_M_insert<double>" && echo $o; done | head
} > "$OUT/diag.txt" 2>&1
cat > /tmp/fmt.cpp <<'CPP'
#include <sstream>
#include <string>
#include <cstring>
extern "C" const char* fmt_double(double v) { std::ostringstream os; os << v; return strdup(os.str().c_str()); }
CPP
g++ -O2 -shared -fPIC /tmp/fmt.cpp -o /tmp/libfmt.so
F=$ROOT/.fixtures/models
timeout 200 python3 - "$F/tiny-opt" >> "$OUT/diag.txt" 2>&1 <<'PY'
import ctypes, sys, faulthandler; faulthandler.enable()
lib = ctypes.CDLL("/tmp/libfmt.so"); lib.fmt_double.restype = ctypes.c_char_p
print("bare:", lib.fmt_double(0.3), flush=True)
import torch; torch.zeros(1).cuda()
from shardlm import LLM, SamplingParams
print("after imports:", lib.fmt_double(0.3), flush=True)
a = LLM(sys.argv[1], device="cuda", dtype="float32", gpu_memory_utilization=0.3)
print("after engine 1:", lib.fmt_double(0.3), flush=True)
b = LLM(sys.argv[1], device="cuda", dtype="float32", gpu_memory_utilization=0.3)
print("after engine 2:", lib.fmt_double(0.3), flush=True)
try:
    LLM(sys.argv[1], device="cuda", dtype="float32", gpu_memory_utilization=0.9)
except Exception as e:
    print("third engine at 0.9:", type(e).__name__, e, flush=True)
print("done", flush=True)
PY
echo "python rc=$?" >> "$OUT/diag.txt"
