// Paged attention layer.
#include "layers/attention.h"

#include "layers/rotary.h"
#include "ops/ops.h"

namespace shardlm {

Tensor PagedAttention::forward(const Tensor& q, const Tensor& k, const Tensor& v, const ForwardInputs& in,
                               KVCache& cache) const {
  const int64_t T = q.dim(0);
  Tensor k3 = k.reshape({T, kv_heads_, head_dim_});
  Tensor v3 = v.reshape({T, kv_heads_, head_dim_});
  ops::cache_write(k3, v3, in.attn.slot_mapping, cache.k[(size_t)layer_], cache.v[(size_t)layer_]);
  return attend(q.reshape({T, heads_, head_dim_}), in, cache);
}

Tensor PagedAttention::forward_qkv(const Tensor& qkv, const RotaryEmbedding* rope, const ForwardInputs& in,
                                   KVCache& cache) const {
  Tensor q = Tensor::empty({qkv.dim(0), heads_, head_dim_}, qkv.dtype(), qkv.device());
  ops::qkv_to_cache(qkv, in.positions, rope ? &rope->cos_sin() : nullptr, RotaryEmbedding::kNeoxStyle,
                    in.attn.slot_mapping, q, cache.k[(size_t)layer_], cache.v[(size_t)layer_]);
  return attend(q, in, cache);
}

Tensor PagedAttention::attend(const Tensor& q3, const ForwardInputs& in, KVCache& cache) const {
  Tensor out = Tensor::empty(q3.shape(), q3.dtype(), q3.device());
  ops::paged_attention(q3, cache.k[(size_t)layer_], cache.v[(size_t)layer_], in.attn, scale_, out);
  return out.reshape({q3.dim(0), heads_ * head_dim_});
}

}  // namespace shardlm
