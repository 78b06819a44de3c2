// CUDA linear layer: y[M,N] = x[M,K] @ w[N,K]^T (fp16/bf16/f32 storage, f32 accumulation; f32 stays true
// f32). Single-row batches (M <= SHARDLM_CUDA_GEMV, default 1) go to the bandwidth-bound kernels in gemv.cu
// with the bias fused; larger M to cuBLAS (the handle keeps the default math mode, so no TF32), then the bias
// as a broadcast add.
#include <climits>
#include <cstdlib>

#include "core/env_vars.h"
#include "ops/cuda/cuda_context.h"
#include "ops/cuda/cuda_kernels.h"

namespace shardlm::cuda {

cudaDataType_t cublas_float_type(DType dt, const char* what) {
  switch (dt) {
    case DType::F32: return CUDA_R_32F;
    case DType::F16: return CUDA_R_16F;
    case DType::BF16: return CUDA_R_16BF;
    case DType::I32:
    case DType::I64:
    case DType::U8:
    case DType::F8E4M3: break;
  }
  fail(what, ": floating tensors expected, got ", dtype_name(dt));
}

namespace {

// Largest M sent to gemv(). Measured on H200 (docs/benchmarks.md, bench_ops): at M = 1 the GEMV kernel
// matches cuBLAS on the large llama-3-8b weights (qkv, gate_up, down, lm_head: 0.97-1.03x) and is faster on
// the small ones, where cuBLAS stays at 1-2.5 TB/s (o_proj and the TP=2/4 qkv, o_proj and down shards:
// 1.04-1.6x; opt-125m: 2-2.7x). At M = 2..16 cuBLAS streams the large weights at the same 3-4 TB/s while
// GEMV drops to 1.7-3.7 TB/s, so the threshold is 1 (the brief's starting point, 8, made the linears of a
// llama-3-8b token at M = 8 1.5x slower). SHARDLM_CUDA_GEMV=0 sends every batch to cuBLAS (comparisons), =N
// raises the threshold (at most kGemvMaxRows; can pay for models whose weights are all small). Read on
// every call, like SHARDLM_CUDA_ATTENTION, so a benchmark can switch it between calls.
constexpr int64_t kDefaultGemvMaxRows = 1;
int64_t gemv_max_rows() {
  const std::optional<std::string> v = env_value("SHARDLM_CUDA_GEMV");
  if (!v) return kDefaultGemvMaxRows;
  char* end = nullptr;
  const long n = std::strtol(v->c_str(), &end, 10);
  if (*end != '\0' || n < 0 || n > kGemvMaxRows)
    fail("SHARDLM_CUDA_GEMV=", *v, ": expected the largest batch for the GEMV kernel, 0 to ", kGemvMaxRows,
         " (0 sends every linear to cuBLAS)");
  return n;
}
}  // namespace

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  if (M == 0 || N == 0) return;
  if (M > INT_MAX || N > INT_MAX || K > INT_MAX) fail("cuda linear: dimensions exceed cuBLAS's int range");
  if (K > 0 && M <= gemv_max_rows()) {
    gemv(x, w, bias, y);
    return;
  }
  if (K == 0) {
    y.zero_();
  } else {
    // cuBLAS is column-major. Row-major y[M,N] read column-major is y^T[N,M] = w[N,K] x^T[K,M]; the row-major
    // w[N,K] read column-major is w^T[K,N] (so op(A) = T), and the row-major x[M,K] read column-major is
    // x^T[K,M] (op(B) = N). Leading dimensions: K, K, N.
    const cudaDataType_t t = cublas_float_type(x.dtype(), "cuda linear");
    const float alpha = 1.f, beta = 0.f;
    SHARDLM_CUBLAS_CHECK(cublasGemmEx(cublas(), CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)M, (int)K, &alpha, w.raw(), t,
                                      (int)K, x.raw(), t, (int)K, &beta, y.raw(), t, (int)N, CUBLAS_COMPUTE_32F,
                                      CUBLAS_GEMM_DEFAULT));
  }
  if (bias) add_bias_rows(y, *bias);
}

}  // namespace shardlm::cuda
