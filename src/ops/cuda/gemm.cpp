// CUDA linear layer: y[M,N] = x[M,K] @ w[N,K]^T through cuBLAS (fp16/bf16/f32 storage, f32 accumulation;
// f32 stays true f32: the handle keeps the default math mode, so no TF32), then the bias as a broadcast add.
#include <climits>

#include "ops/cuda/cuda_context.h"
#include "ops/cuda/cuda_kernels.h"

namespace shardlm::cuda {

namespace {
cudaDataType_t cuda_type(DType dt) {
  switch (dt) {
    case DType::F32: return CUDA_R_32F;
    case DType::F16: return CUDA_R_16F;
    case DType::BF16: return CUDA_R_16BF;
    case DType::I32:
    case DType::I64:
    case DType::U8: break;
  }
  fail("cuda linear: floating tensors expected, got ", dtype_name(dt));
}
}  // namespace

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  if (M == 0 || N == 0) return;
  if (M > INT_MAX || N > INT_MAX || K > INT_MAX) fail("cuda linear: dimensions exceed cuBLAS's int range");
  if (K == 0) {
    y.zero_();
  } else {
    // cuBLAS is column-major. Row-major y[M,N] read column-major is y^T[N,M] = w[N,K] x^T[K,M]; the row-major
    // w[N,K] read column-major is w^T[K,N] (so op(A) = T), and the row-major x[M,K] read column-major is
    // x^T[K,M] (op(B) = N). Leading dimensions: K, K, N.
    const cudaDataType_t t = cuda_type(x.dtype());
    const float alpha = 1.f, beta = 0.f;
    SHARDLM_CUBLAS_CHECK(cublasGemmEx(cublas(), CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)M, (int)K, &alpha, w.raw(), t,
                                      (int)K, x.raw(), t, (int)K, &beta, y.raw(), t, (int)N, CUBLAS_COMPUTE_32F,
                                      CUBLAS_GEMM_DEFAULT));
  }
  if (bias) add_bias_rows(y, *bias);
}

}  // namespace shardlm::cuda
