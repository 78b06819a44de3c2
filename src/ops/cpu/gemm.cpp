// CPU linear layer: f32 activations times f32/f16/bf16 weights through OpenBLAS (weights widened per panel).
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "ops/cpu/cpu_kernels.h"

extern "C" void openblas_set_num_threads(int num_threads);

namespace shardlm::cpu {

namespace {
int g_num_threads = 0;
}

void set_num_threads(int n) {
  g_num_threads = n;
  int t = num_threads();
  omp_set_num_threads(t);
  openblas_set_num_threads(t);
}

int num_threads() { return g_num_threads > 0 ? g_num_threads : omp_get_num_procs(); }

int num_threads_available() { return omp_get_num_procs(); }

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  SHARDLM_CHECK(x.dtype() == DType::F32, "cpu linear: f32 activations expected");
  float* yp = y.data<float>();
  if (w.dtype() == DType::F32) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, x.data<float>(), (int)K,
                w.data<float>(), (int)K, 0.0f, yp, (int)N);
  } else {
    // Widen the weight panel by panel so memory stays bounded for large matrices.
    const int64_t panel = std::max<int64_t>(1, (1 << 20) / std::max<int64_t>(K, 1));
    std::vector<float> wf((size_t)(std::min(panel, N) * K));
    for (int64_t n0 = 0; n0 < N; n0 += panel) {
      int64_t nb = std::min(panel, N - n0);
      const char* src = static_cast<const char*>(w.raw()) + (size_t)(n0 * K) * dtype_size(w.dtype());
      convert_to_f32(src, w.dtype(), wf.data(), (size_t)(nb * K));
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)nb, (int)K, 1.0f, x.data<float>(), (int)K,
                  wf.data(), (int)K, 0.0f, yp + n0, (int)N);
    }
  }
  if (bias) {
    std::vector<float> b((size_t)N);
    convert_to_f32(bias->raw(), bias->dtype(), b.data(), (size_t)N);
#pragma omp parallel for if (M * N > 65536)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) yp[m * N + n] += b[(size_t)n];
  }
}

}  // namespace shardlm::cpu
