// AVX2/FMA/F16C building blocks shared by the AVX2 kernels: loading 8 weights of any floating dtype as 8
// floats (widened in registers), horizontal sums, and a vector exp. Include only from files whose functions
// are all marked SHARDLM_TARGET_AVX2.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "ops/cpu/isa.h"

namespace shardlm::cpu::avx2 {

// Tags for the stored element type of a weight.
struct F32W {
  using Elem = float;
};
struct F16W {
  using Elem = uint16_t;
};
struct BF16W {
  using Elem = uint16_t;
};

SHARDLM_TARGET_AVX2 inline __m256 load8(F32W, const float* p) { return _mm256_loadu_ps(p); }
SHARDLM_TARGET_AVX2 inline __m256 load8(F16W, const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
SHARDLM_TARGET_AVX2 inline __m256 load8(BF16W, const uint16_t* p) {
  __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

// Exact scalar widening (the same values load8 produces).
SHARDLM_TARGET_AVX2 inline float load1(F32W, const float* p) { return *p; }
SHARDLM_TARGET_AVX2 inline float load1(F16W, const uint16_t* p) { return _cvtsh_ss(*p); }
SHARDLM_TARGET_AVX2 inline float load1(BF16W, const uint16_t* p) {
  uint32_t bits = (uint32_t)*p << 16;
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}

SHARDLM_TARGET_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

SHARDLM_TARGET_AVX2 inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Lane i of the result is the sum of the lanes of v[i] (eight horizontal sums at once).
SHARDLM_TARGET_AVX2 inline __m256 hsum8(__m256 v0, __m256 v1, __m256 v2, __m256 v3, __m256 v4, __m256 v5,
                                       __m256 v6, __m256 v7) {
  __m256 a = _mm256_hadd_ps(v0, v1);  // v0[01] v0[23] v1[01] v1[23] | v0[45] v0[67] v1[45] v1[67]
  __m256 b = _mm256_hadd_ps(v2, v3);
  __m256 c = _mm256_hadd_ps(v4, v5);
  __m256 d = _mm256_hadd_ps(v6, v7);
  __m256 ab = _mm256_hadd_ps(a, b);  // v0 v1 v2 v3 (low halves) | v0 v1 v2 v3 (high halves)
  __m256 cd = _mm256_hadd_ps(c, d);
  __m256 lo = _mm256_permute2f128_ps(ab, cd, 0x20);
  __m256 hi = _mm256_permute2f128_ps(ab, cd, 0x31);
  return _mm256_add_ps(lo, hi);
}

// e^x for each lane: range reduction by ln 2 and a degree-6 polynomial (Cephes expf); relative error
// about 1e-7 over the clamped range [-87.3, 88.7], so it agrees with std::exp to float rounding.
SHARDLM_TARGET_AVX2 inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.7f));
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // 2^n via the exponent field; n is in [-126, 128), so split it to stay representable.
  __m256i ni = _mm256_cvtps_epi32(n);
  __m256i half = _mm256_srai_epi32(ni, 1);
  __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, _mm256_set1_epi32(127)), 23));
  __m256 s2 =
      _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, half), _mm256_set1_epi32(127)), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

}  // namespace shardlm::cpu::avx2
