// The op interface: one virtual method per op, one implementation per device (ops/cpu, ops/cuda).
// Shapes and dtypes are checked once in ops.cpp before dispatch, so backends may assume valid arguments.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

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
  // Sequences with exactly one query row (decodes) when the host knows, else 0; lets a backend give the
  // decodes of a mixed batch their own kernel.
  int32_t num_decode_seqs = 0;
};

// FP8 (e4m3) linear layers, vLLM's W8A8 scheme: weights stored in FP8 with f32 scales, input activations
// quantised to FP8 on the fly, products accumulated in f32 and rescaled.
//
// How a linear quantises its input x [M, K] before the GEMM. Every dynamic scale is
// fp8_dynamic_scale(absmax) of the values it covers; q = e4m3(x / scale) saturating at +-448.
enum class Fp8ActQuant : uint8_t {
  DynamicPerToken,   // one scale per row (vLLM's choice on GPUs with CUTLASS FP8, Hopper included)
  DynamicPerTensor,  // one scale for all of x
  StaticPerTensor,   // the checkpoint's input_scale
  DynamicPerGroup,   // one scale per row and group of Fp8Weight::block_k features (block-quantised weights)
};
std::string fp8_act_quant_name(Fp8ActQuant a);

// The smallest dynamic scale, so an all-zero row quantises to zeros instead of dividing by zero (vLLM's
// 1 / (448 * 512)).
constexpr float kFp8MinDynamicScale = 1.0f / (448.0f * 512.0f);
inline float fp8_dynamic_scale(float absmax) {
  const float s = absmax / kFp8E4M3Max;
  return s > kFp8MinDynamicScale ? s : kFp8MinDynamicScale;
}

// An FP8 weight matrix and its scales: dequantised W[n, k] = fp8(weight[n, k]) * (scale of that element).
struct Fp8Weight {
  Tensor weight;  // [N, K] F8E4M3
  // F32. block_n == 0: [N], one scale per output row (a per-tensor checkpoint repeats its one scale on every row
  // of that tensor, so fused QKV keeps q's, k's and v's own scales). block_n > 0: [ceil(N / block_n),
  // ceil(K / block_k)], one per block_n x block_k block (Hugging Face's fine-grained FP8).
  Tensor scale;
  int64_t block_n = 0, block_k = 0;
  Fp8ActQuant act = Fp8ActQuant::DynamicPerToken;
  Tensor input_scale;  // [1] F32, StaticPerTensor only
  bool defined() const { return weight.defined(); }
};

// The scales quantize_fp8 produces for x [M, K]: [M] per token, [1] per tensor (dynamic or static),
// [M, ceil(K / group)] per group.
std::vector<int64_t> fp8_act_scale_shape(Fp8ActQuant act, int64_t M, int64_t K, int64_t group);

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
  // The fused QKV projection's output qkv [T, (Hq + 2 Hk) D] to attention's inputs: q [T, Hq, D] = its first
  // Hq heads, rotated (rotary above) when cos_sin is given; the next Hk heads (k, rotated likewise) and the
  // last Hk (v) written to the caches as cache_write does. The result equals copy_cols + rotary +
  // cache_write, which is what this default does; a backend may do it in one pass.
  virtual void qkv_to_cache(const Tensor& qkv, const Tensor& positions, const Tensor* cos_sin, bool neox_style,
                            const Tensor& slot_mapping, Tensor& q, Tensor& k_cache, Tensor& v_cache);
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
  // Quantises activations x [M, K] (floating) to q [M, K] F8E4M3 with F32 scales (fp8_act_scale_shape);
  // `group` is the feature group of DynamicPerGroup, `input_scale` ([1] F32) the scale of StaticPerTensor.
  virtual void quantize_fp8(const Tensor& x, Fp8ActQuant act, int64_t group, const Tensor* input_scale, Tensor& q,
                            Tensor& scales) = 0;
  // y[M,N] = quant(x)[M,K] @ dequant(w)[N,K]^T (+ bias[N]): x quantised as w.act says (quantize_fp8), then
  // y[m, n] = sum_k q[m, k] * x_scale(m, k) * w[n, k] * w_scale(n, k), accumulated in f32.
  virtual void linear_fp8(const Tensor& x, const Fp8Weight& w, const Tensor* bias, Tensor& y) = 0;
};

Backend& backend_for(Device d);  // Error when the device has no backend in this build
void register_backend(Device d, Backend* b);

}  // namespace shardlm
