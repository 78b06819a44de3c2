// AVX2/FMA paged-attention kernels (see attention.cpp for the work split). Scores take 8 keys at a time
// (8 accumulators over head_dim, then one 8-way horizontal sum); the softmax uses a vector exp. A single
// query row (decode) sums its values with head_dim held in registers, 64 features per pass. Prefill rows go
// in groups of up to kAttentionGroupRows consecutive rows of one (sequence, head): each K row is read from
// the cache once for the group, and each tile of V rows once, while it is summed into all the group's
// outputs. Head dims that are not a multiple of 8 go to the portable kernel.
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

// Lane u: scale * q . k_u for the 8 key rows kp[0 .. 7] (8 accumulators over head_dim, one 8-way sum).
SHARDLM_TARGET_AVX2 inline __m256 dot8(const float* qv, const float* const* kp, int64_t D, __m256 scale) {
  __m256 acc[8];
#pragma GCC unroll 8
  for (int u = 0; u < 8; ++u) acc[u] = _mm256_setzero_ps();
  for (int64_t d = 0; d < D; d += 8) {
    const __m256 qd = _mm256_loadu_ps(qv + d);
#pragma GCC unroll 8
    for (int u = 0; u < 8; ++u) acc[u] = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kp[u] + d), acc[u]);
  }
  return _mm256_mul_ps(avx2::hsum8(acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]), scale);
}

// scale * q . k for one key row.
SHARDLM_TARGET_AVX2 inline float dot1(const float* qv, const float* kp, int64_t D, float scale) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t d = 0; d < D; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(qv + d), _mm256_loadu_ps(kp + d), acc);
  return avx2::hsum(acc) * scale;
}

// scores[j] = scale * q . k_j for j < ctx; returns the largest.
SHARDLM_TARGET_AVX2 float row_scores(const AttentionArgs& a, const float* qv, const int32_t* table, int64_t kv_head,
                                     int64_t ctx, float* scores) {
  const __m256 scale = _mm256_set1_ps(a.scale);
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  int64_t j = 0;
  for (; j + 8 <= ctx; j += 8) {
    const float* kp[8];
#pragma GCC unroll 8
    for (int u = 0; u < 8; ++u) kp[u] = cache_row(a.k_cache, a, table, j + u, kv_head);
    const __m256 s = dot8(qv, kp, a.D, scale);
    _mm256_storeu_ps(scores + j, s);
    vmax = _mm256_max_ps(vmax, s);
  }
  float m = avx2::hmax(vmax);
  for (; j < ctx; ++j) {
    scores[j] = dot1(qv, cache_row(a.k_cache, a, table, j, kv_head), a.D, a.scale);
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

// The cache rows of one KV head in position order, one block-table lookup per block (no division per key).
struct CacheCursor {
  const float* cache;
  const int32_t* table;
  int64_t block_size, row_stride, head_offset;
  int64_t block = 0, offset = 0;
  const float* base;

  CacheCursor(const float* c, const AttentionArgs& a, const int32_t* t, int64_t kv_head)
      : cache(c), table(t), block_size(a.block_size), row_stride(a.Hk * a.D), head_offset(kv_head * a.D) {
    base = block_address();
  }
  const float* block_address() const { return cache + (int64_t)table[block] * block_size * row_stride + head_offset; }
  // The row of the next position; the next block is looked up only when a row of it is asked for.
  const float* next() {
    if (offset == block_size) {
      offset = 0;
      ++block;
      base = block_address();
    }
    return base + row_stride * offset++;
  }
};

// Largest of s[0 : ctx).
SHARDLM_TARGET_AVX2 float row_max(int64_t ctx, const float* s) {
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  int64_t j = 0;
  for (; j + 8 <= ctx; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(s + j));
  float m = avx2::hmax(vmax);
  for (; j < ctx; ++j) m = std::max(m, s[j]);
  return m;
}

// Keys in one tile of the value pass: their V rows (8 KiB at head_dim 64) stay in L1 across feature chunks.
constexpr int64_t kValueTileKeys = 32;

// o_r[d0 : d0 + 8*NV] += sum_{i < n} p_r[j0 + i] * v_i[d0 : ...] for the R rows; each V vector loaded once.
template <int R, int NV>
SHARDLM_TARGET_AVX2 void group_values_tile(const float* const* vp, int64_t n, const float* const* p, int64_t j0,
                                           int64_t d0, float* const* o) {
  __m256 acc[R][NV];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int u = 0; u < NV; ++u) acc[r][u] = _mm256_loadu_ps(o[r] + d0 + 8 * u);
  for (int64_t i = 0; i < n; ++i) {
    __m256 v[NV];
#pragma GCC unroll 2
    for (int u = 0; u < NV; ++u) v[u] = _mm256_loadu_ps(vp[i] + d0 + 8 * u);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m256 pr = _mm256_broadcast_ss(p[r] + j0 + i);
#pragma GCC unroll 2
      for (int u = 0; u < NV; ++u) acc[r][u] = _mm256_fmadd_ps(pr, v[u], acc[r][u]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int u = 0; u < NV; ++u) _mm256_storeu_ps(o[r] + d0 + 8 * u, acc[r][u]);
}

// R consecutive query rows t0 .. t0+R-1 at positions pos0 .. pos0+R-1; row r attends to keys [0, pos0+r].
// Scores of row r go to scores + r * stride. Keys are taken up to the last row's context C = pos0 + R;
// row r's scores past its own context are left out of its max and zeroed after its softmax, so the sums
// over all C keys are row r's exact causal sums.
template <int R>
SHARDLM_TARGET_AVX2 void attend_group(const AttentionArgs& a, const int32_t* table, int64_t head, int64_t kv_head,
                                      int64_t t0, int64_t pos0, float* scores, int64_t stride) {
  const int64_t D = a.D, C = pos0 + R;
  const float* qv[R];
  float* s[R];
  float* o[R];
  for (int r = 0; r < R; ++r) {
    qv[r] = a.q + ((t0 + r) * a.Hq + head) * D;
    s[r] = scores + r * stride;
    o[r] = a.out + ((t0 + r) * a.Hq + head) * D;
  }

  const __m256 scale = _mm256_set1_ps(a.scale);
  CacheCursor keys(a.k_cache, a, table, kv_head);
  int64_t j = 0;
  for (; j + 8 <= C; j += 8) {
    const float* kp[8];
    for (int u = 0; u < 8; ++u) kp[u] = keys.next();
    // The 8 K rows are in L1 after the first row of the group.
    for (int r = 0; r < R; ++r) _mm256_storeu_ps(s[r] + j, dot8(qv[r], kp, D, scale));
  }
  for (; j < C; ++j) {
    const float* kp = keys.next();
    for (int r = 0; r < R; ++r) s[r][j] = dot1(qv[r], kp, D, a.scale);
  }

  float inv_l[R];
  for (int r = 0; r < R; ++r) {
    const int64_t ctx = pos0 + r + 1;
    inv_l[r] = 1.f / row_softmax_numerators(row_max(ctx, s[r]), ctx, s[r]);
    for (int64_t k = ctx; k < C; ++k) s[r][k] = 0.f;
  }

  for (int r = 0; r < R; ++r)
    for (int64_t d = 0; d < D; ++d) o[r][d] = 0.f;
  CacheCursor values(a.v_cache, a, table, kv_head);
  for (int64_t j0 = 0; j0 < C; j0 += kValueTileKeys) {
    const int64_t n = std::min(kValueTileKeys, C - j0);
    const float* vp[kValueTileKeys];
    for (int64_t i = 0; i < n; ++i) vp[i] = values.next();
    int64_t d0 = 0;
    for (; d0 + 16 <= D; d0 += 16) group_values_tile<R, 2>(vp, n, s, j0, d0, o);
    if (d0 < D) group_values_tile<R, 1>(vp, n, s, j0, d0, o);
  }
  for (int r = 0; r < R; ++r) {
    const __m256 inv = _mm256_set1_ps(inv_l[r]);
    for (int64_t d = 0; d < D; d += 8) _mm256_storeu_ps(o[r] + d, _mm256_mul_ps(_mm256_loadu_ps(o[r] + d), inv));
  }
}

// One query row (decode, or the last row of an item): scores, softmax, then values in registers.
SHARDLM_TARGET_AVX2 void attend_row(const AttentionArgs& a, const int32_t* table, int64_t head, int64_t kv_head,
                                    int64_t t, int64_t pos, float* scores) {
  const int64_t D = a.D, ctx = pos + 1;
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

SHARDLM_TARGET_AVX2 void attend_rows_avx2_impl(const AttentionArgs& a, int32_t seq, int64_t head, int64_t t_begin,
                                               int64_t t_end, int32_t pos_begin, float* scores) {
  static_assert(kAttentionGroupRows == 4, "the switch below takes groups of up to 4 rows");
  const int64_t kv_head = head / (a.Hq / a.Hk);
  const int32_t* table = a.block_tables + seq * a.max_blocks;
  // Per-row score stride: the item's largest context, rounded up to 8 (the buffer holds 4 such rows).
  const int64_t stride = (pos_begin + (t_end - t_begin) + 7) / 8 * 8;
  for (int64_t t = t_begin; t < t_end;) {
    const int64_t pos = pos_begin + (t - t_begin);
    const int64_t rows = std::min<int64_t>(kAttentionGroupRows, t_end - t);
    switch (rows) {
      case 4: attend_group<4>(a, table, head, kv_head, t, pos, scores, stride); break;
      case 3: attend_group<3>(a, table, head, kv_head, t, pos, scores, stride); break;
      case 2: attend_group<2>(a, table, head, kv_head, t, pos, scores, stride); break;
      default: attend_row(a, table, head, kv_head, t, pos, scores); break;
    }
    t += rows;
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
