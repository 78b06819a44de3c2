// CPU LayerNorm and RMSNorm over the last dimension (f32).
#include <cmath>
#include <vector>

#include "ops/cpu/cpu_kernels.h"

namespace shardlm::cpu {

namespace {
std::vector<float> to_f32(const Tensor* t) {
  std::vector<float> v;
  if (t) {
    v.resize((size_t)t->numel());
    convert_to_f32(t->raw(), t->dtype(), v.data(), v.size());
  }
  return v;
}
}  // namespace

void layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps, Tensor& y) {
  const int64_t H = x.dim(-1), rows = x.numel() / H;
  std::vector<float> w = to_f32(weight), b = to_f32(bias);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
#pragma omp parallel for if (rows * H > (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = xp + r * H;
    float* yr = yp + r * H;
    double mean = 0;
    for (int64_t i = 0; i < H; ++i) mean += xr[i];
    mean /= (double)H;
    double var = 0;
    for (int64_t i = 0; i < H; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= (double)H;
    float inv = (float)(1.0 / std::sqrt(var + eps));
    for (int64_t i = 0; i < H; ++i) {
      float v = (float)(xr[i] - mean) * inv;
      if (!w.empty()) v *= w[(size_t)i];
      if (!b.empty()) v += b[(size_t)i];
      yr[i] = v;
    }
  }
}

void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) {
  const int64_t H = x.dim(-1), rows = x.numel() / H;
  std::vector<float> w = to_f32(&weight);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
#pragma omp parallel for if (rows * H > (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = xp + r * H;
    float* yr = yp + r * H;
    double ss = 0;
    for (int64_t i = 0; i < H; ++i) ss += (double)xr[i] * xr[i];
    float inv = (float)(1.0 / std::sqrt(ss / (double)H + eps));
    for (int64_t i = 0; i < H; ++i) yr[i] = (xr[i] * inv) * w[(size_t)i];
  }
}

}  // namespace shardlm::cpu
