// Row-wise kernels behind cpu::rms_norm, layer_norm, add_rms_norm, add_layer_norm, activation_inplace and
// act_and_mul, by variant.
// Internal to ops/cpu; tests call the variants directly. Weights and biases here are already f32.
#pragma once
#include <cstdint>

#include "ops/backend.h"
#include "ops/cpu/isa.h"

namespace shardlm::cpu {

// y[r, :] = x[r, :] / rms(x[r, :]) * w for rows [0, rows) of width H.
void rms_norm_rows_portable(const float* x, const float* w, int64_t H, float eps, float* y, int64_t rows);
void rms_norm_rows_avx2(const float* x, const float* w, int64_t H, float eps, float* y, int64_t rows);
// y[r, :] = (x[r, :] - mean) / sqrt(var + eps) * w + b; w and b may be null.
void layer_norm_rows_portable(const float* x, const float* w, const float* b, int64_t H, float eps, float* y,
                              int64_t rows);
void layer_norm_rows_avx2(const float* x, const float* w, const float* b, int64_t H, float eps, float* y,
                          int64_t rows);
// The residual add fused with the norm after it, for rows [0, rows): residual[r, :] += x[r, :], then
// x[r, :] = norm(residual[r, :]). Bit for bit the unfused pair (the add, then the same variant's norm of
// residual into x): the sum is stored and reduced in the order the plain kernel reduces.
void add_rms_norm_rows_portable(float* x, float* residual, const float* w, int64_t H, float eps, int64_t rows);
void add_rms_norm_rows_avx2(float* x, float* residual, const float* w, int64_t H, float eps, int64_t rows);
void add_layer_norm_rows_portable(float* x, float* residual, const float* w, const float* b, int64_t H, float eps,
                                  int64_t rows);
void add_layer_norm_rows_avx2(float* x, float* residual, const float* w, const float* b, int64_t H, float eps,
                              int64_t rows);
// x[i] = act(x[i]) for i < n.
void activation_portable(float* x, int64_t n, Activation act);
void activation_avx2(float* x, int64_t n, Activation act);
// out[r, i] = act(gate_up[r, i]) * gate_up[r, I + i] for rows [0, rows), i < I.
void act_and_mul_rows_portable(const float* gate_up, int64_t I, Activation act, float* out, int64_t rows);
void act_and_mul_rows_avx2(const float* gate_up, int64_t I, Activation act, float* out, int64_t rows);

float activation_scalar(Activation act, float v);  // the portable definition of each activation

}  // namespace shardlm::cpu
