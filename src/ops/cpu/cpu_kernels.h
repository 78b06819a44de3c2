// CPU kernels behind the op interface (f32 activations; weights f32, f16 or bf16, or FP8 with scales). Internal to ops/cpu.
#pragma once
#include "ops/backend.h"

namespace shardlm::cpu {

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y);
void layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps, Tensor& y);
void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y);
void add_inplace(Tensor& x, const Tensor& y);
void add_rms_norm(Tensor& x, Tensor& residual, const Tensor& weight, float eps);
void add_layer_norm(Tensor& x, Tensor& residual, const Tensor* weight, const Tensor* bias, float eps);
void activation_inplace(Tensor& x, Activation act);
void act_and_mul(const Tensor& gate_up, Activation act, Tensor& out);
void embedding(const Tensor& ids, const Tensor& table, int64_t vocab_start, Tensor& out);
void rotary(Tensor& q, Tensor& k, const Tensor& positions, const Tensor& cos_sin, bool neox_style);
void cache_write(const Tensor& k, const Tensor& v, const Tensor& slot_mapping, Tensor& k_cache, Tensor& v_cache);
void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionMetadata& meta,
                     float scale, Tensor& out);
void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out);
void copy_cols(const Tensor& x, int64_t x_col, Tensor& out, int64_t out_col, int64_t num_cols);
void cast(const Tensor& x, Tensor& out);
void quantize_fp8(const Tensor& x, Fp8ActQuant act, int64_t group, const Tensor* input_scale, Tensor& q,
                  Tensor& scales);
void linear_fp8(const Tensor& x, const Fp8Weight& w, const Tensor* bias, Tensor& y);

// Number of threads CPU kernels use (OpenMP and the BLAS library). 0 = all cores.
void set_num_threads(int n);
int num_threads();
int num_threads_available();  // cores this process may use

}  // namespace shardlm::cpu
