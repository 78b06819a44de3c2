// AVX2/FMA RMSNorm and LayerNorm rows, plain and fused with the residual add before them (f32 sums in 16
// lanes; two passes for LayerNorm's variance). The fused kernels add while they reduce, in the same order.
#include <immintrin.h>

#include <cmath>

#include "ops/cpu/rowwise_kernels.h"
#include "ops/cpu/simd_avx2.h"

namespace shardlm::cpu {

namespace {

// How a reduction reads its input row: as stored, or as residual + x with the sum stored into residual on
// the way (the fused residual add). The reductions visit each element exactly once.
struct PlainRow {
  const float* x;
  SHARDLM_TARGET_AVX2 __m256 load8(int64_t i) const { return _mm256_loadu_ps(x + i); }
  SHARDLM_TARGET_AVX2 float load1(int64_t i) const { return x[i]; }
};
struct AddIntoResidual {
  float* residual;
  const float* x;
  SHARDLM_TARGET_AVX2 __m256 load8(int64_t i) const {
    const __m256 s = _mm256_add_ps(_mm256_loadu_ps(residual + i), _mm256_loadu_ps(x + i));
    _mm256_storeu_ps(residual + i, s);
    return s;
  }
  SHARDLM_TARGET_AVX2 float load1(int64_t i) const { return residual[i] = residual[i] + x[i]; }
};

template <class Row>
SHARDLM_TARGET_AVX2 float sum_row(Row row, int64_t H) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= H; i += 16) {
    a0 = _mm256_add_ps(a0, row.load8(i));
    a1 = _mm256_add_ps(a1, row.load8(i + 8));
  }
  for (; i + 8 <= H; i += 8) a0 = _mm256_add_ps(a0, row.load8(i));
  float s = avx2::hsum(_mm256_add_ps(a0, a1));
  for (; i < H; ++i) s += row.load1(i);
  return s;
}

// sum_i (x[i] - c)^2
template <class Row>
SHARDLM_TARGET_AVX2 float sum_sq_row(Row row, int64_t H, float c) {
  const __m256 vc = _mm256_set1_ps(c);
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= H; i += 16) {
    const __m256 d0 = _mm256_sub_ps(row.load8(i), vc), d1 = _mm256_sub_ps(row.load8(i + 8), vc);
    a0 = _mm256_fmadd_ps(d0, d0, a0);
    a1 = _mm256_fmadd_ps(d1, d1, a1);
  }
  for (; i + 8 <= H; i += 8) {
    const __m256 d0 = _mm256_sub_ps(row.load8(i), vc);
    a0 = _mm256_fmadd_ps(d0, d0, a0);
  }
  float s = avx2::hsum(_mm256_add_ps(a0, a1));
  for (; i < H; ++i) {
    const float d = row.load1(i) - c;
    s += d * d;
  }
  return s;
}

// y = x * inv * w, inv from the row's sum of squares.
SHARDLM_TARGET_AVX2 void rms_scale_row(const float* x, const float* w, int64_t H, float ss, float eps, float* y) {
  const float inv = 1.f / std::sqrt(ss / (float)H + eps);
  const __m256 vinv = _mm256_set1_ps(inv);
  int64_t i = 0;
  for (; i + 8 <= H; i += 8)
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vinv), _mm256_loadu_ps(w + i)));
  for (; i < H; ++i) y[i] = (x[i] * inv) * w[i];
}

// The variance pass and the output pass of LayerNorm, given the row's mean.
SHARDLM_TARGET_AVX2 void layer_norm_row_from_mean(const float* x, const float* w, const float* b, int64_t H,
                                                  float eps, float mean, float* y) {
  const float inv = 1.f / std::sqrt(sum_sq_row(PlainRow{x}, H, mean) / (float)H + eps);
  const __m256 vmean = _mm256_set1_ps(mean), vinv = _mm256_set1_ps(inv);
  int64_t i = 0;
  for (; i + 8 <= H; i += 8) {
    __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmean), vinv);
    if (w) v = _mm256_mul_ps(v, _mm256_loadu_ps(w + i));
    if (b) v = _mm256_add_ps(v, _mm256_loadu_ps(b + i));
    _mm256_storeu_ps(y + i, v);
  }
  for (; i < H; ++i) {
    float v = (x[i] - mean) * inv;
    if (w) v *= w[i];
    if (b) v += b[i];
    y[i] = v;
  }
}

SHARDLM_TARGET_AVX2 void rms_norm_impl(const float* x, const float* w, int64_t H, float eps, float* y, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r)
    rms_scale_row(x + r * H, w, H, sum_sq_row(PlainRow{x + r * H}, H, 0.f), eps, y + r * H);
}

SHARDLM_TARGET_AVX2 void add_rms_norm_impl(float* x, float* residual, const float* w, int64_t H, float eps,
                                           int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x + r * H;
    float* rr = residual + r * H;
    rms_scale_row(rr, w, H, sum_sq_row(AddIntoResidual{rr, xr}, H, 0.f), eps, xr);
  }
}

SHARDLM_TARGET_AVX2 void layer_norm_impl(const float* x, const float* w, const float* b, int64_t H, float eps,
                                         float* y, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r)
    layer_norm_row_from_mean(x + r * H, w, b, H, eps, sum_row(PlainRow{x + r * H}, H) / (float)H, y + r * H);
}

SHARDLM_TARGET_AVX2 void add_layer_norm_impl(float* x, float* residual, const float* w, const float* b, int64_t H,
                                             float eps, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x + r * H;
    float* rr = residual + r * H;
    layer_norm_row_from_mean(rr, w, b, H, eps, sum_row(AddIntoResidual{rr, xr}, H) / (float)H, xr);
  }
}

}  // namespace

void rms_norm_rows_avx2(const float* x, const float* w, int64_t H, float eps, float* y, int64_t rows) {
  rms_norm_impl(x, w, H, eps, y, rows);
}

void add_rms_norm_rows_avx2(float* x, float* residual, const float* w, int64_t H, float eps, int64_t rows) {
  add_rms_norm_impl(x, residual, w, H, eps, rows);
}

void layer_norm_rows_avx2(const float* x, const float* w, const float* b, int64_t H, float eps, float* y,
                          int64_t rows) {
  layer_norm_impl(x, w, b, H, eps, y, rows);
}

void add_layer_norm_rows_avx2(float* x, float* residual, const float* w, const float* b, int64_t H, float eps,
                              int64_t rows) {
  add_layer_norm_impl(x, residual, w, b, H, eps, rows);
}

}  // namespace shardlm::cpu
