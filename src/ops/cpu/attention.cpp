// CPU paged attention: causal attention of each query row over its sequence's KV cache, read through the
// block table. One pass with an online softmax per (token, head); never materialises the score matrix.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "ops/cpu/cpu_kernels.h"

namespace shardlm::cpu {

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

void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionMetadata& meta,
                     float scale, Tensor& out) {
  const int64_t Hq = q.dim(1), D = q.dim(2);
  const int64_t block_size = k_cache.dim(1), Hk = k_cache.dim(2);
  const int64_t group = Hq / Hk;
  const int64_t max_blocks = meta.block_tables.dim(1);
  const int32_t* qsl = meta.query_start_loc.data<int32_t>();
  const int32_t* seq_lens = meta.seq_lens.data<int32_t>();
  const int32_t* tables = meta.block_tables.data<int32_t>();
  const float* qp = q.data<float>();
  const float* kc = k_cache.data<float>();
  const float* vc = v_cache.data<float>();
  float* op = out.data<float>();
  const int64_t T = q.dim(0);

  // Map each query row to its sequence and absolute position.
  std::vector<int32_t> row_seq((size_t)T), row_pos((size_t)T);
  for (int32_t s = 0; s < meta.num_seqs; ++s) {
    int32_t qlen = qsl[s + 1] - qsl[s];
    for (int32_t j = 0; j < qlen; ++j) {
      row_seq[(size_t)(qsl[s] + j)] = s;
      row_pos[(size_t)(qsl[s] + j)] = seq_lens[s] - qlen + j;
    }
  }

  // Parallel only when there is enough work to pay for waking threads.
  const bool parallel = (int64_t)T * Hq * meta.max_seq_len * D > (1 << 16);
#pragma omp parallel for collapse(2) schedule(dynamic, 4) if (parallel)
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t h = 0; h < Hq; ++h) {
      const int32_t s = row_seq[(size_t)t];
      const int32_t ctx = row_pos[(size_t)t] + 1;  // causal: positions [0, pos]
      const int32_t* table = tables + s * max_blocks;
      const int64_t kh = h / group;
      const float* qv = qp + (t * Hq + h) * D;
      float* o = op + (t * Hq + h) * D;
      std::vector<float> acc((size_t)D, 0.f);
      float m = -std::numeric_limits<float>::infinity(), l = 0.f;
      for (int32_t j = 0; j < ctx; ++j) {
        int64_t slot = (int64_t)table[j / block_size] * block_size + j % block_size;
        const float* kv = kc + (slot * Hk + kh) * D;
        float sdot = 0.f;
        for (int64_t d = 0; d < D; ++d) sdot += qv[d] * kv[d];
        sdot *= scale;
        const float* vv = vc + (slot * Hk + kh) * D;
        if (sdot > m) {
          float corr = std::exp(m - sdot);
          for (int64_t d = 0; d < D; ++d) acc[(size_t)d] *= corr;
          l *= corr;
          m = sdot;
        }
        float p = std::exp(sdot - m);
        l += p;
        for (int64_t d = 0; d < D; ++d) acc[(size_t)d] += p * vv[d];
      }
      for (int64_t d = 0; d < D; ++d) o[d] = acc[(size_t)d] / l;
    }
  }
}

}  // namespace shardlm::cpu
