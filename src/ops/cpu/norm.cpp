// CPU LayerNorm and RMSNorm over the last dimension (f32 activations): dispatch over rows and the portable
// kernels (double sums); the AVX2 ones are in norm_avx2.cpp.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/rowwise_kernels.h"
#include "ops/cpu/thread_pool.h"

namespace shardlm::cpu {

namespace {

// The parameter as f32: its own storage when already f32, else a per-thread widened copy (slot 0 or 1).
const float* as_f32(const Tensor* t, int slot) {
  if (!t) return nullptr;
  if (t->dtype() == DType::F32) return t->data<float>();
  thread_local std::vector<float> buf[2];
  buf[slot].resize((size_t)t->numel());
  convert_to_f32(t->raw(), t->dtype(), buf[slot].data(), buf[slot].size());
  return buf[slot].data();
}

constexpr int64_t kRowsPerChunk = 16;

}  // namespace

void rms_norm_rows_portable(const float* x, const float* w, int64_t H, float eps, float* y, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * H;
    float* yr = y + r * H;
    double ss = 0;
    for (int64_t i = 0; i < H; ++i) ss += (double)xr[i] * xr[i];
    float inv = (float)(1.0 / std::sqrt(ss / (double)H + eps));
    for (int64_t i = 0; i < H; ++i) yr[i] = (xr[i] * inv) * w[i];
  }
}

void layer_norm_rows_portable(const float* x, const float* w, const float* b, int64_t H, float eps, float* y,
                              int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * H;
    float* yr = y + r * H;
    double mean = 0;
    for (int64_t i = 0; i < H; ++i) mean += xr[i];
    mean /= (double)H;
    double var = 0;
    for (int64_t i = 0; i < H; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= (double)H;
    float inv = (float)(1.0 / std::sqrt(var + eps));
    for (int64_t i = 0; i < H; ++i) {
      float v = (float)(xr[i] - mean) * inv;
      if (w) v *= w[i];
      if (b) v += b[i];
      yr[i] = v;
    }
  }
}

void layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps, Tensor& y) {
  const int64_t H = x.dim(-1), rows = x.numel() / H;
  const float* w = as_f32(weight, 0);
  const float* b = as_f32(bias, 1);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  const bool avx2 = active_isa() == Isa::Avx2;
  const int64_t chunks = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
  parallel_for_if(rows * H > (1 << 16), chunks, [&](int64_t c) {
    const int64_t r0 = c * kRowsPerChunk, n = std::min(kRowsPerChunk, rows - r0);
    if (avx2) layer_norm_rows_avx2(xp + r0 * H, w, b, H, eps, yp + r0 * H, n);
    else layer_norm_rows_portable(xp + r0 * H, w, b, H, eps, yp + r0 * H, n);
  });
}

void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) {
  const int64_t H = x.dim(-1), rows = x.numel() / H;
  const float* w = as_f32(&weight, 0);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  const bool avx2 = active_isa() == Isa::Avx2;
  const int64_t chunks = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
  parallel_for_if(rows * H > (1 << 16), chunks, [&](int64_t c) {
    const int64_t r0 = c * kRowsPerChunk, n = std::min(kRowsPerChunk, rows - r0);
    if (avx2) rms_norm_rows_avx2(xp + r0 * H, w, H, eps, yp + r0 * H, n);
    else rms_norm_rows_portable(xp + r0 * H, w, H, eps, yp + r0 * H, n);
  });
}

}  // namespace shardlm::cpu
