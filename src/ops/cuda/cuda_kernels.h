// CUDA implementations behind the op interface (activations, weights and KV cache in one floating dtype:
// F16, BF16 or F32; math in f32; int tensors I32). Host entry points; each launches on cuda::stream().
// Internal to ops/cuda: cuda_backend.cpp checks dtypes, then calls these.
#pragma once
#include "ops/backend.h"

namespace shardlm::cuda {

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y);
// The bandwidth-bound skinny GEMM behind linear() for small M (gemv.cu): y[M,N] = x[M,K] @ w[N,K]^T (+ bias),
// 1 <= M <= kGemvMaxRows, K >= 1. `splits` > 0 asks for that many K splits (clamped to what shared memory
// and K allow), 0 lets gemv choose; `kernel` picks the CUDA-core or tensor-core kernel (the latter only
// for f16/bf16 with 16-byte-aligned rows on compute capability >= 8.0; elsewhere the CUDA-core kernel
// runs). Both knobs exist for tests and benchmarks. Returns the number of splits used.
constexpr int64_t kGemvMaxRows = 16;
enum class GemvKernel { Auto, CudaCores, TensorCores };
int gemv(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, int splits = 0,
         GemvKernel kernel = GemvKernel::Auto);
void add_bias_rows(Tensor& y, const Tensor& bias);  // y[M,N] += bias[N]
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
void qkv_to_cache(const Tensor& qkv, const Tensor& positions, const Tensor* cos_sin, bool neox_style,
                  const Tensor& slot_mapping, Tensor& q, Tensor& k_cache, Tensor& v_cache);
void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionMetadata& meta,
                     float scale, Tensor& out);
void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out);
void copy_cols(const Tensor& x, int64_t x_col, Tensor& out, int64_t out_col, int64_t num_cols);
void cast(const Tensor& x, Tensor& out);

}  // namespace shardlm::cuda
