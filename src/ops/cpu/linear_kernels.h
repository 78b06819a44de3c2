// The linear kernels behind cpu::linear, by variant: y[M,N] = x[M,K] @ w[N,K]^T (+ bias[N]) with f32
// activations and f32/f16/bf16 weights read as stored. Internal to ops/cpu; tests call the variants directly.
#pragma once
#include <cstdint>

#include "core/dtype.h"
#include "ops/cpu/isa.h"

namespace shardlm::cpu {

struct LinearArgs {
  const float* x = nullptr;  // [M, K] row-major
  int64_t M = 0, K = 0;
  const void* w = nullptr;  // [N, K] row-major, w_dtype
  DType w_dtype = DType::F32;
  int64_t N = 0;
  const float* bias = nullptr;  // [N] or null
  float* y = nullptr;           // [M, N] row-major
};

// Gemv reads each weight from memory once per call, widening it in registers, and takes activation rows 4 at
// a time against chunks of at most 64 weight rows that stay in L2: the memory-bound decode case, and up to
// about 64 rows as fast as Gemm. Gemm widens weight panels once per call into packed f32 blocks and runs a
// register-blocked 6x16 kernel: the compute-bound prefill case (measured on one Zen 4 core, f16 weights of
// llama-125m's layers: 32 rows 83 vs 64 GFLOP/s, 64 rows 88 vs 84, 128 rows 94 vs 92, 512 rows 95 vs 102).
// Within Gemv each row gets the same bits whatever the batch size (up to 64 rows): batched decode equals
// decode alone.
enum class LinearPath { Gemv, Gemm };
constexpr int64_t kGemvMaxRows = 64;
inline LinearPath default_linear_path(int64_t M) { return M <= kGemvMaxRows ? LinearPath::Gemv : LinearPath::Gemm; }

// Runs on the CPU kernel threads. Isa::Portable widens weight panels and calls OpenBLAS (path ignored).
void run_linear(const LinearArgs& a, Isa isa, LinearPath path);

// Single-thread AVX2 kernels over output columns [n_begin, n_end) and rows [m_begin, m_end).
void gemv_avx2(const LinearArgs& a, int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end);
void gemm_avx2(const LinearArgs& a, int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end);
// Portable: OpenBLAS sgemm on panels widened to f32 (uses OpenBLAS's own threads).
void linear_blas(const LinearArgs& a);

}  // namespace shardlm::cpu
