// AVX2/FMA paged-attention row kernel (see attention.cpp for the work split). Scores take 8 keys at a time
// (8 accumulators over head_dim, then one 8-way horizontal sum); the softmax uses a vector exp; values are
// summed with head_dim held in registers, 64 features per pass. Head dims that are not a multiple of 8 go to
// the portable kernel.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "ops/cpu/attention_kernels.h"
#include "ops/cpu/simd_avx2.h"

namespace shardlm::cpu {

namespace {

SHARDLM_TARGET_AVX2 inline const float* cache_row(const float* cache, const AttentionArgs& a, const int32_t* table,
                                                  int64_t pos, int64_t kv_head) {
  const int64_t slot = (int64_t)table[pos / a.block_size] * a.block_size + pos % a.block_size;
  return cache + (slot * a.Hk + kv_head) * a.D;
}

// scores[j] = scale * q . k_j for j < ctx; returns the largest.
SHARDLM_TARGET_AVX2 float row_scores(const AttentionArgs& a, const float* qv, const int32_t* table, int64_t kv_head,
                                     int64_t ctx, float* scores) {
  const int64_t D = a.D;
  const __m256 scale = _mm256_set1_ps(a.scale);
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  int64_t j = 0;
  for (; j + 8 <= ctx; j += 8) {
    const float* kp[8];
#pragma GCC unroll 8
    for (int u = 0; u < 8; ++u) kp[u] = cache_row(a.k_cache, a, table, j + u, kv_head);
    __m256 acc[8];
#pragma GCC unroll 8
    for (int u = 0; u < 8; ++u) acc[u] = _mm256_setzero_ps();
    for (int64_t d = 0; d < D; d += 8) {
      const __m256 qd = _mm256_loadu_ps(qv + d);
#pragma GCC unroll 8
      for (int u = 0; u < 8; ++u) acc[u] = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kp[u] + d), acc[u]);
    }
    const __m256 s =
        _mm256_mul_ps(avx2::hsum8(acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]), scale);
    _mm256_storeu_ps(scores + j, s);
    vmax = _mm256_max_ps(vmax, s);
  }
  float m = avx2::hmax(vmax);
  for (; j < ctx; ++j) {
    const float* kp = cache_row(a.k_cache, a, table, j, kv_head);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t d = 0; d < D; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(qv + d), _mm256_loadu_ps(kp + d), acc);
    scores[j] = avx2::hsum(acc) * a.scale;
    m = std::max(m, scores[j]);
  }
  return m;
}

// scores[j] = exp(scores[j] - m) for j < ctx; returns their sum. Lanes past ctx (the buffer is padded to a
// multiple of 8) are zeroed.
SHARDLM_TARGET_AVX2 float row_softmax_numerators(float m, int64_t ctx, float* scores) {
  const __m256 vm = _mm256_set1_ps(m);
  __m256 sum = _mm256_setzero_ps();
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t j = 0; j < ctx; j += 8) {
    __m256 e = avx2::exp8(_mm256_sub_ps(_mm256_loadu_ps(scores + j), vm));
    if (j + 8 > ctx) {
      const __m256i valid = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(ctx - j)), lane);
      e = _mm256_and_ps(e, _mm256_castsi256_ps(valid));
    }
    _mm256_storeu_ps(scores + j, e);
    sum = _mm256_add_ps(sum, e);
  }
  return avx2::hsum(sum);
}

// o[d0 : d0 + 8*NV] = inv_l * sum_j p[j] * v_j[d0 : ...].
template <int NV>
SHARDLM_TARGET_AVX2 void row_values(const AttentionArgs& a, const float* p, const int32_t* table, int64_t kv_head,
                                    int64_t ctx, int64_t d0, float inv_l, float* o) {
  __m256 acc[NV];
#pragma GCC unroll 8
  for (int u = 0; u < NV; ++u) acc[u] = _mm256_setzero_ps();
  for (int64_t j = 0; j < ctx; ++j) {
    const float* vp = cache_row(a.v_cache, a, table, j, kv_head) + d0;
    const __m256 pj = _mm256_broadcast_ss(p + j);
#pragma GCC unroll 8
    for (int u = 0; u < NV; ++u) acc[u] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vp + 8 * u), acc[u]);
  }
  const __m256 inv = _mm256_set1_ps(inv_l);
#pragma GCC unroll 8
  for (int u = 0; u < NV; ++u) _mm256_storeu_ps(o + d0 + 8 * u, _mm256_mul_ps(acc[u], inv));
}

SHARDLM_TARGET_AVX2 void attend_rows_avx2_impl(const AttentionArgs& a, int32_t seq, int64_t head, int64_t t_begin,
                                               int64_t t_end, int32_t pos_begin, float* scores) {
  const int64_t D = a.D, kv_head = head / (a.Hq / a.Hk);
  const int32_t* table = a.block_tables + seq * a.max_blocks;
  for (int64_t t = t_begin; t < t_end; ++t) {
    const int64_t ctx = pos_begin + (t - t_begin) + 1;
    const float* qv = a.q + (t * a.Hq + head) * D;
    const float m = row_scores(a, qv, table, kv_head, ctx, scores);
    const float inv_l = 1.f / row_softmax_numerators(m, ctx, scores);
    float* o = a.out + (t * a.Hq + head) * D;
    for (int64_t d0 = 0; d0 < D; d0 += 64) {
      switch ((std::min<int64_t>(64, D - d0)) / 8) {
        case 1: row_values<1>(a, scores, table, kv_head, ctx, d0, inv_l, o); break;
        case 2: row_values<2>(a, scores, table, kv_head, ctx, d0, inv_l, o); break;
        case 3: row_values<3>(a, scores, table, kv_head, ctx, d0, inv_l, o); break;
        case 4: row_values<4>(a, scores, table, kv_head, ctx, d0, inv_l, o); break;
        case 5: row_values<5>(a, scores, table, kv_head, ctx, d0, inv_l, o); break;
        case 6: row_values<6>(a, scores, table, kv_head, ctx, d0, inv_l, o); break;
        case 7: row_values<7>(a, scores, table, kv_head, ctx, d0, inv_l, o); break;
        default: row_values<8>(a, scores, table, kv_head, ctx, d0, inv_l, o); break;
      }
    }
  }
}

}  // namespace

void attend_rows_avx2(const AttentionArgs& a, int32_t seq, int64_t head, int64_t t_begin, int64_t t_end,
                      int32_t pos_begin, float* scores) {
  if (a.D % 8 != 0) {
    attend_rows_portable(a, seq, head, t_begin, t_end, pos_begin, scores);
    return;
  }
  attend_rows_avx2_impl(a, seq, head, t_begin, t_end, pos_begin, scores);
}

}  // namespace shardlm::cpu
