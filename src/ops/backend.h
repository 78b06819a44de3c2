// The op interface: one virtual method per op, one implementation per device (ops/cpu, ops/cuda).
// Shapes and dtypes are checked once in ops.cpp before dispatch, so backends may assume valid arguments.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace shardlm {

enum class Activation { Relu, Gelu, GeluTanh, Silu };

// Paged-attention metadata for one step (all int32, on the op's device). Sequence s owns query rows
// [query_start_loc[s], query_start_loc[s+1]); its context after this step is seq_lens[s] tokens, so its last
// query row sits at position seq_lens[s]-1. Token i of sequence s lives in KV slot
// block_tables[s, i / block_size] * block_size + i % block_size.
struct AttentionMetadata {
  Tensor query_start_loc;  // [num_seqs + 1]
  Tensor seq_lens;         // [num_seqs]
  Tensor block_tables;     // [num_seqs, max_blocks_per_seq]
  Tensor slot_mapping;     // [num_tokens] KV slot of each new token
  int32_t num_seqs = 0;
  int32_t max_query_len = 0;
  int32_t max_seq_len = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // y[M,N] = x[M,K] @ w[N,K]^T (+ bias[N]).
  virtual void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) = 0;
  // y = LayerNorm(x) over the last dim; weight/bias may be null (no elementwise affine).
  virtual void layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps, Tensor& y) = 0;
  // y = x / rms(x) * weight over the last dim.
  virtual void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) = 0;
  virtual void add_inplace(Tensor& x, const Tensor& y) = 0;  // x += y; y may be one row broadcast over x's rows
  // The residual add fused with the norm after it (vLLM's fused_add_rms_norm), over the last dim:
  //   residual += x;  x = RMSNorm(residual) * weight
  // x [..., H] arrives as a sublayer's output and leaves as the next sublayer's (normalised) input; residual
  // [..., H], the same shape and dtype, is the residual stream and keeps the sum. The sum is accumulated in f32
  // and rounded to the activation dtype before the norm reads it, so the result is that of add_inplace(residual,
  // x) followed by rms_norm(residual, weight, eps, x), but in one kernel that fetches each row once.
  virtual void add_rms_norm(Tensor& x, Tensor& residual, const Tensor& weight, float eps) = 0;
  // The same with LayerNorm: residual += x; x = LayerNorm(residual) (weight/bias may be null, as in layer_norm).
  virtual void add_layer_norm(Tensor& x, Tensor& residual, const Tensor* weight, const Tensor* bias, float eps) = 0;
  virtual void activation_inplace(Tensor& x, Activation act) = 0;
  // out[M,I] = act(gate_up[M, :I]) * gate_up[M, I:]
  virtual void act_and_mul(const Tensor& gate_up, Activation act, Tensor& out) = 0;
  // out[M,H] = table[ids[m] - vocab_start] for ids in [vocab_start, vocab_start + table rows), else 0.
  virtual void embedding(const Tensor& ids, const Tensor& table, int64_t vocab_start, Tensor& out) = 0;
  // Rotates the first rot_dim features of each head of q [T, Hq, D] and k [T, Hk, D] in place, neox style
  // (rotate-half) or interleaved (gpt-j style). cos_sin [max_pos, rot_dim] holds cos in the first half.
  virtual void rotary(Tensor& q, Tensor& k, const Tensor& positions, const Tensor& cos_sin, bool neox_style) = 0;
  // Writes k/v [T, Hk, D] into caches [num_blocks, block_size, Hk, D] at slot_mapping. A negative slot
  // writes nothing: the row is padding (CUDA-graph batches are padded to a captured size with slot -1).
  virtual void cache_write(const Tensor& k, const Tensor& v, const Tensor& slot_mapping, Tensor& k_cache,
                           Tensor& v_cache) = 0;
  // Causal attention of q [T, Hq, D] over each sequence's cached context; out [T, Hq, D].
  virtual void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                               const AttentionMetadata& meta, float scale, Tensor& out) = 0;
  // out[i, :] = x[rows[i], :]
  virtual void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out) = 0;
  // out[:, out_col : out_col + n] = x[:, x_col : x_col + n] for every row; same row count and dtype
  // (splitting fused projections, assembling the LM head's gathered vocab shards).
  virtual void copy_cols(const Tensor& x, int64_t x_col, Tensor& out, int64_t out_col, int64_t num_cols) = 0;
  // out = x converted to out's dtype (same shape).
  virtual void cast(const Tensor& x, Tensor& out) = 0;
};

Backend& backend_for(Device d);  // Error when the device has no backend in this build
void register_backend(Device d, Backend* b);

}  // namespace shardlm
