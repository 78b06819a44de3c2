// The FP8 linear on CUDA (fp8_quant.cu, fp8_gemm.cpp): activation quantisation kernels and the cuBLASLt GEMM.
// Internal to ops/cuda; cuda_backend.cpp checks devices and dtypes, then calls these.
#pragma once
#include "ops/backend.h"

namespace shardlm::cuda {

// The quantize_fp8 op: q [M, K] F8E4M3 and scales in fp8_act_scale_shape's layout.
void quantize_fp8(const Tensor& x, Fp8ActQuant act, int64_t group, const Tensor* input_scale, Tensor& q,
                  Tensor& scales);
// The same for the GEMM: scales [M] for every per-token or per-tensor scheme (one per row, as cuBLASLt's outer
// vector scaling reads them), [ceil(K / group), M] for per-group (cuBLASLt's 128-element vectors, M innermost).
void quantize_fp8_for_gemm(const Tensor& x, Fp8ActQuant act, int64_t group, const Tensor* input_scale, Tensor& q,
                           Tensor& scales);
// y[m, n] = acc[m, n] * x_scale[m] * w_scale[n] (+ bias[n]): acc [M, N] f32, the scales f32.
void fp8_rescale(const Tensor& acc, const Tensor& x_scale, const Tensor& w_scale, const Tensor* bias, Tensor& y);

void linear_fp8(const Tensor& x, const Fp8Weight& w, const Tensor* bias, Tensor& y);

}  // namespace shardlm::cuda
