// AVX2/FMA RMSNorm and LayerNorm rows (f32 sums in 16 lanes; two passes for LayerNorm's variance).
#include <immintrin.h>

#include <cmath>

#include "ops/cpu/rowwise_kernels.h"
#include "ops/cpu/simd_avx2.h"

namespace shardlm::cpu {

namespace {

SHARDLM_TARGET_AVX2 float sum_row(const float* x, int64_t H) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= H; i += 16) {
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
  }
  for (; i + 8 <= H; i += 8) a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
  float s = avx2::hsum(_mm256_add_ps(a0, a1));
  for (; i < H; ++i) s += x[i];
  return s;
}

// sum_i (x[i] - c)^2
SHARDLM_TARGET_AVX2 float sum_sq_row(const float* x, int64_t H, float c) {
  const __m256 vc = _mm256_set1_ps(c);
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= H; i += 16) {
    const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), vc), d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vc);
    a0 = _mm256_fmadd_ps(d0, d0, a0);
    a1 = _mm256_fmadd_ps(d1, d1, a1);
  }
  for (; i + 8 <= H; i += 8) {
    const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), vc);
    a0 = _mm256_fmadd_ps(d0, d0, a0);
  }
  float s = avx2::hsum(_mm256_add_ps(a0, a1));
  for (; i < H; ++i) s += (x[i] - c) * (x[i] - c);
  return s;
}

SHARDLM_TARGET_AVX2 void rms_norm_impl(const float* x, const float* w, int64_t H, float eps, float* y, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * H;
    float* yr = y + r * H;
    const float inv = 1.f / std::sqrt(sum_sq_row(xr, H, 0.f) / (float)H + eps);
    const __m256 vinv = _mm256_set1_ps(inv);
    int64_t i = 0;
    for (; i + 8 <= H; i += 8)
      _mm256_storeu_ps(yr + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(xr + i), vinv), _mm256_loadu_ps(w + i)));
    for (; i < H; ++i) yr[i] = (xr[i] * inv) * w[i];
  }
}

SHARDLM_TARGET_AVX2 void layer_norm_impl(const float* x, const float* w, const float* b, int64_t H, float eps,
                                         float* y, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * H;
    float* yr = y + r * H;
    const float mean = sum_row(xr, H) / (float)H;
    const float inv = 1.f / std::sqrt(sum_sq_row(xr, H, mean) / (float)H + eps);
    const __m256 vmean = _mm256_set1_ps(mean), vinv = _mm256_set1_ps(inv);
    int64_t i = 0;
    for (; i + 8 <= H; i += 8) {
      __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), vmean), vinv);
      if (w) v = _mm256_mul_ps(v, _mm256_loadu_ps(w + i));
      if (b) v = _mm256_add_ps(v, _mm256_loadu_ps(b + i));
      _mm256_storeu_ps(yr + i, v);
    }
    for (; i < H; ++i) {
      float v = (xr[i] - mean) * inv;
      if (w) v *= w[i];
      if (b) v += b[i];
      yr[i] = v;
    }
  }
}

}  // namespace

void rms_norm_rows_avx2(const float* x, const float* w, int64_t H, float eps, float* y, int64_t rows) {
  rms_norm_impl(x, w, H, eps, y, rows);
}

void layer_norm_rows_avx2(const float* x, const float* w, const float* b, int64_t H, float eps, float* y,
                          int64_t rows) {
  layer_norm_impl(x, w, b, H, eps, y, rows);
}

}  // namespace shardlm::cpu
