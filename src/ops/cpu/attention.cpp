// CPU paged attention: causal attention of each query row over its sequence's KV cache, read through the
// block table. Work is split into (sequence, head, block of query rows) items over the threads. Each row
// takes two passes: all its scores into a per-thread buffer, then softmax and the weighted sum of values;
// the score matrix is never materialised beyond a few rows (the AVX2 kernel's group of rows). This file
// holds the dispatcher, the cache write and the portable row kernel; attention_avx2.cpp holds the AVX2 one.
#include <cmath>
#include <cstring>
#include <vector>

#include "ops/cpu/attention_kernels.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/thread_pool.h"

namespace shardlm::cpu {

namespace {

inline const float* cache_row(const float* cache, const AttentionArgs& a, const int32_t* table, int64_t pos,
                              int64_t kv_head) {
  const int64_t slot = (int64_t)table[pos / a.block_size] * a.block_size + pos % a.block_size;
  return cache + (slot * a.Hk + kv_head) * a.D;
}

// Rows of one sequence handed to one thread at a time: small enough to balance the causal triangle.
constexpr int32_t kRowsPerItem = 16;

struct WorkItem {
  int32_t seq, row_begin, row_end;  // rows are query rows (tokens) of this step
  int32_t pos_begin;
  int32_t head;
};

}  // namespace

void cache_write(const Tensor& k, const Tensor& v, const Tensor& slot_mapping, Tensor& k_cache, Tensor& v_cache) {
  const int64_t T = k.dim(0), row = k.dim(1) * k.dim(2);
  const int32_t* slots = slot_mapping.data<int32_t>();
  const float* kp = k.data<float>();
  const float* vp = v.data<float>();
  float* kc = k_cache.data<float>();
  float* vc = v_cache.data<float>();
  for (int64_t t = 0; t < T; ++t) {
    if (slots[t] < 0) continue;  // padding token
    std::memcpy(kc + (int64_t)slots[t] * row, kp + t * row, (size_t)row * sizeof(float));
    std::memcpy(vc + (int64_t)slots[t] * row, vp + t * row, (size_t)row * sizeof(float));
  }
}

void attend_rows_portable(const AttentionArgs& a, int32_t seq, int64_t head, int64_t t_begin, int64_t t_end,
                          int32_t pos_begin, float* scores) {
  const int64_t D = a.D, kv_head = head / (a.Hq / a.Hk);
  const int32_t* table = a.block_tables + seq * a.max_blocks;
  for (int64_t t = t_begin; t < t_end; ++t) {
    const int64_t ctx = pos_begin + (t - t_begin) + 1;
    const float* qv = a.q + (t * a.Hq + head) * D;
    float m = -INFINITY;
    for (int64_t j = 0; j < ctx; ++j) {
      const float* kv = cache_row(a.k_cache, a, table, j, kv_head);
      float s = 0.f;
      for (int64_t d = 0; d < D; ++d) s += qv[d] * kv[d];
      scores[j] = s * a.scale;
      m = std::max(m, scores[j]);
    }
    float l = 0.f;
    for (int64_t j = 0; j < ctx; ++j) {
      scores[j] = std::exp(scores[j] - m);
      l += scores[j];
    }
    float* o = a.out + (t * a.Hq + head) * D;
    for (int64_t d = 0; d < D; ++d) o[d] = 0.f;
    for (int64_t j = 0; j < ctx; ++j) {
      const float* vv = cache_row(a.v_cache, a, table, j, kv_head);
      const float p = scores[j];
      for (int64_t d = 0; d < D; ++d) o[d] += p * vv[d];
    }
    const float inv = 1.f / l;
    for (int64_t d = 0; d < D; ++d) o[d] *= inv;
  }
}

void paged_attention_with(Isa isa, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                          const AttentionMetadata& meta, float scale, Tensor& out) {
  AttentionArgs a;
  a.q = q.data<float>();
  a.Hq = q.dim(1);
  a.D = q.dim(2);
  a.k_cache = k_cache.data<float>();
  a.v_cache = v_cache.data<float>();
  a.block_size = k_cache.dim(1);
  a.Hk = k_cache.dim(2);
  a.block_tables = meta.block_tables.data<int32_t>();
  a.max_blocks = meta.block_tables.dim(1);
  a.scale = scale;
  a.out = out.data<float>();
  const int32_t* qsl = meta.query_start_loc.data<int32_t>();
  const int32_t* seq_lens = meta.seq_lens.data<int32_t>();

  // Work items, rebuilt per call in a per-thread list that keeps its capacity.
  thread_local std::vector<WorkItem> items;
  items.clear();
  int64_t max_ctx = 0, work = 0;
  for (int32_t s = 0; s < meta.num_seqs; ++s) {
    const int32_t qlen = qsl[s + 1] - qsl[s], first_pos = seq_lens[s] - qlen;
    max_ctx = std::max<int64_t>(max_ctx, seq_lens[s]);
    work += (int64_t)qlen * seq_lens[s];
    for (int32_t r0 = 0; r0 < qlen; r0 += kRowsPerItem) {
      const int32_t r1 = std::min(qlen, r0 + kRowsPerItem);
      for (int32_t h = 0; h < (int32_t)a.Hq; ++h) items.push_back({s, qsl[s] + r0, qsl[s] + r1, first_pos + r0, h});
    }
  }
  const int64_t scores_len = kAttentionGroupRows * ((max_ctx + 7) / 8 * 8);
  const int64_t n_items = (int64_t)items.size();
  const WorkItem* it = items.data();
  // Parallel only when there is enough work to pay for waking threads.
  const bool parallel = work * a.Hq * a.D > (1 << 15);
  parallel_for_if(parallel, n_items, [&](int64_t i) {
    thread_local std::vector<float> scores;
    if ((int64_t)scores.size() < scores_len) scores.resize((size_t)scores_len);
    const WorkItem& w = it[i];
    if (isa == Isa::Avx2)
      attend_rows_avx2(a, w.seq, w.head, w.row_begin, w.row_end, w.pos_begin, scores.data());
    else
      attend_rows_portable(a, w.seq, w.head, w.row_begin, w.row_end, w.pos_begin, scores.data());
  });
}

void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionMetadata& meta,
                     float scale, Tensor& out) {
  paged_attention_with(active_isa(), q, k_cache, v_cache, meta, scale, out);
}

}  // namespace shardlm::cpu
