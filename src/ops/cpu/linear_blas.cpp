// Portable linear kernel: OpenBLAS sgemm, with f16/bf16 weights widened to f32 one panel at a time.
#include <cblas.h>

#include <algorithm>
#include <vector>

#include "ops/cpu/linear_kernels.h"

namespace shardlm::cpu {

void linear_blas(const LinearArgs& a) {
  const int M = (int)a.M, K = (int)a.K, N = (int)a.N;
  if (a.w_dtype == DType::F32) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a.x, K, static_cast<const float*>(a.w), K,
                0.0f, a.y, N);
  } else {
    // Panels of about 4 MiB of f32 so memory stays bounded for large matrices.
    const int64_t panel = std::max<int64_t>(1, (1 << 20) / std::max<int64_t>(a.K, 1));
    thread_local std::vector<float> wf;
    wf.resize((size_t)(std::min<int64_t>(panel, a.N) * a.K));
    for (int64_t n0 = 0; n0 < a.N; n0 += panel) {
      const int64_t nb = std::min(panel, a.N - n0);
      const char* src = static_cast<const char*>(a.w) + (size_t)(n0 * a.K) * dtype_size(a.w_dtype);
      convert_to_f32(src, a.w_dtype, wf.data(), (size_t)(nb * a.K));
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, (int)nb, K, 1.0f, a.x, K, wf.data(), K, 0.0f, a.y + n0,
                  N);
    }
  }
  if (a.bias) {
    for (int64_t m = 0; m < a.M; ++m)
      for (int64_t n = 0; n < a.N; ++n) a.y[m * a.N + n] += a.bias[n];
  }
}

}  // namespace shardlm::cpu
