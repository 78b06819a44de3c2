// AVX2/FMA activations and gated activations (SiLU, tanh-GELU, ReLU vectorised; erf-GELU per element).
#include <immintrin.h>

#include "ops/cpu/rowwise_kernels.h"
#include "ops/cpu/simd_avx2.h"

namespace shardlm::cpu {

namespace {

// Returns false for activations without a vector form (erf-GELU).
SHARDLM_TARGET_AVX2 inline bool has_vector_form(Activation act) { return act != Activation::Gelu; }

SHARDLM_TARGET_AVX2 inline __m256 apply8(Activation act, __m256 v) {
  const __m256 one = _mm256_set1_ps(1.f);
  switch (act) {
    case Activation::Relu: return _mm256_max_ps(v, _mm256_setzero_ps());
    case Activation::Silu:
      return _mm256_div_ps(v, _mm256_add_ps(one, avx2::exp8(_mm256_sub_ps(_mm256_setzero_ps(), v))));
    case Activation::GeluTanh: {
      // tanh(y) = 1 - 2 / (exp(2y) + 1), y = sqrt(2/pi) * (v + 0.044715 v^3)
      const __m256 v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
      const __m256 y = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f),
                                     _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), v3, v));
      const __m256 e = avx2::exp8(_mm256_add_ps(y, y));
      const __m256 th = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.f), _mm256_add_ps(e, one)));
      return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), _mm256_add_ps(one, th));
    }
    case Activation::Gelu: break;
  }
  return v;
}

SHARDLM_TARGET_AVX2 void activation_impl(float* x, int64_t n, Activation act) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, apply8(act, _mm256_loadu_ps(x + i)));
  for (; i < n; ++i) x[i] = activation_scalar(act, x[i]);
}

SHARDLM_TARGET_AVX2 void act_and_mul_impl(const float* gate_up, int64_t I, Activation act, float* out, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = gate_up + r * 2 * I;
    const float* u = g + I;
    float* o = out + r * I;
    int64_t i = 0;
    for (; i + 8 <= I; i += 8)
      _mm256_storeu_ps(o + i, _mm256_mul_ps(apply8(act, _mm256_loadu_ps(g + i)), _mm256_loadu_ps(u + i)));
    for (; i < I; ++i) o[i] = activation_scalar(act, g[i]) * u[i];
  }
}

}  // namespace

void activation_avx2(float* x, int64_t n, Activation act) {
  if (!has_vector_form(act)) return activation_portable(x, n, act);
  activation_impl(x, n, act);
}

void act_and_mul_rows_avx2(const float* gate_up, int64_t I, Activation act, float* out, int64_t rows) {
  if (!has_vector_form(act)) return act_and_mul_rows_portable(gate_up, I, act, out, rows);
  act_and_mul_impl(gate_up, I, act, out, rows);
}

}  // namespace shardlm::cpu
