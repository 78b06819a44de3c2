// Paged attention layer: writes this step's K/V into the layer's cache blocks, then attends causally over
// each sequence's whole context through its block table.
#pragma once
#include <vector>

#include "core/tensor.h"
#include "ops/backend.h"

namespace shardlm {

// The KV cache of every layer on this rank: k[l], v[l] are [num_blocks, block_size, num_kv_heads_local, head_dim].
struct KVCache {
  std::vector<Tensor> k, v;
  int64_t num_blocks = 0, block_size = 0;
};

// Everything one forward pass needs besides the weights.
struct ForwardInputs {
  Tensor token_ids;        // [T] int32
  Tensor positions;        // [T] int32
  AttentionMetadata attn;  // see ops/backend.h
  Tensor logits_indices;   // [S] int32: rows of the hidden states whose logits are wanted
};

class RotaryEmbedding;

class PagedAttention {
 public:
  PagedAttention() = default;
  PagedAttention(int layer_index, int64_t num_heads_local, int64_t num_kv_heads_local, int64_t head_dim, float scale)
      : layer_(layer_index), heads_(num_heads_local), kv_heads_(num_kv_heads_local), head_dim_(head_dim), scale_(scale) {}
  // q [T, Hq*D], k/v [T, Hk*D] -> [T, Hq*D]
  Tensor forward(const Tensor& q, const Tensor& k, const Tensor& v, const ForwardInputs& in, KVCache& cache) const;
  // Straight from the fused QKV projection, qkv [T, (Hq + 2 Hk) D] -> [T, Hq*D]: q and k rotated by `rope`
  // when given, k/v written to the cache in the same pass (ops::qkv_to_cache).
  Tensor forward_qkv(const Tensor& qkv, const RotaryEmbedding* rope, const ForwardInputs& in, KVCache& cache) const;

 private:
  // q3 [T, Hq, D] over the layer's cache (this step's K/V already written) -> [T, Hq*D]
  Tensor attend(const Tensor& q3, const ForwardInputs& in, KVCache& cache) const;

  int layer_ = 0;
  int64_t heads_ = 0, kv_heads_ = 0, head_dim_ = 0;
  float scale_ = 1.f;
};

}  // namespace shardlm
