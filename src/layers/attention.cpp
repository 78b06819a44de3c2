// Paged attention layer.
#include "layers/attention.h"

#include "ops/ops.h"

namespace shardlm {

Tensor PagedAttention::forward(const Tensor& q, const Tensor& k, const Tensor& v, const ForwardInputs& in,
                               KVCache& cache) const {
  const int64_t T = q.dim(0);
  Tensor q3 = q.reshape({T, heads_, head_dim_});
  Tensor k3 = k.reshape({T, kv_heads_, head_dim_});
  Tensor v3 = v.reshape({T, kv_heads_, head_dim_});
  ops::cache_write(k3, v3, in.attn.slot_mapping, cache.k[(size_t)layer_], cache.v[(size_t)layer_]);
  Tensor out = Tensor::empty({T, heads_, head_dim_}, q.dtype(), q.device());
  ops::paged_attention(q3, cache.k[(size_t)layer_], cache.v[(size_t)layer_], in.attn, scale_, out);
  return out.reshape({T, heads_ * head_dim_});
}

Tensor PagedAttention::forward_qkv(const Tensor& qkv, const Tensor* cos_sin, const ForwardInputs& in,
                                   KVCache& cache) const {
  const int64_t T = qkv.dim(0);
  Tensor q = Tensor::empty({T, heads_, head_dim_}, qkv.dtype(), qkv.device());
  ops::qkv_to_cache(qkv, in.positions, cos_sin, /*neox_style=*/true, in.attn.slot_mapping, q,
                    cache.k[(size_t)layer_], cache.v[(size_t)layer_]);
  Tensor out = Tensor::empty({T, heads_, head_dim_}, q.dtype(), q.device());
  ops::paged_attention(q, cache.k[(size_t)layer_], cache.v[(size_t)layer_], in.attn, scale_, out);
  return out.reshape({T, heads_ * head_dim_});
}

}  // namespace shardlm
