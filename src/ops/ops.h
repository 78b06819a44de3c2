// The ops every layer calls. Each checks shapes and dtypes, then dispatches on the tensors' device.
#pragma once
#include "ops/backend.h"

namespace shardlm::ops {

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y);
void layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps, Tensor& y);
void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y);
void add_inplace(Tensor& x, const Tensor& y);
// residual += x; x = norm(residual): the residual add fused with the norm after it (semantics in backend.h).
void add_rms_norm(Tensor& x, Tensor& residual, const Tensor& weight, float eps);
void add_layer_norm(Tensor& x, Tensor& residual, const Tensor* weight, const Tensor* bias, float eps);
void activation_inplace(Tensor& x, Activation act);
void act_and_mul(const Tensor& gate_up, Activation act, Tensor& out);
void embedding(const Tensor& ids, const Tensor& table, int64_t vocab_start, Tensor& out);
void rotary(Tensor& q, Tensor& k, const Tensor& positions, const Tensor& cos_sin, bool neox_style);
void cache_write(const Tensor& k, const Tensor& v, const Tensor& slot_mapping, Tensor& k_cache, Tensor& v_cache);
// qkv [T, (Hq + 2 Hk) D] -> q [T, Hq, D] and the caches (semantics in backend.h); cos_sin null: no rotary.
void qkv_to_cache(const Tensor& qkv, const Tensor& positions, const Tensor* cos_sin, bool neox_style,
                  const Tensor& slot_mapping, Tensor& q, Tensor& k_cache, Tensor& v_cache);
void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionMetadata& meta,
                     float scale, Tensor& out);
void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out);
void slice_cols(const Tensor& x, int64_t col_start, Tensor& out);  // out = x[:, col_start : col_start + out cols]
Tensor slice_cols(const Tensor& x, int64_t col_start, int64_t num_cols);
void copy_cols(const Tensor& x, int64_t x_col, Tensor& out, int64_t out_col, int64_t num_cols);
void cast(const Tensor& x, Tensor& out);
void quantize_fp8(const Tensor& x, Fp8ActQuant act, int64_t group, const Tensor* input_scale, Tensor& q,
                  Tensor& scales);
void linear_fp8(const Tensor& x, const Fp8Weight& w, const Tensor* bias, Tensor& y);
// Checks that w is a consistent Fp8Weight for `in_features` inputs; Error naming `what` and the mismatch.
void check_fp8_weight(const Fp8Weight& w, const std::string& what);

Activation parse_activation(const std::string& name);  // HF names: relu, gelu, gelu_new, silu, swish

}  // namespace shardlm::ops
