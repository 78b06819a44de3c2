// CPU rotary position embedding (neox rotate-half or gpt-j interleaved), in place on q and k.
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/thread_pool.h"

namespace shardlm::cpu {

namespace {
// x: one head's features; rot_dim = 2 * half.
inline void rotate(float* x, const float* cos, const float* sin, int64_t half, bool neox) {
  for (int64_t i = 0; i < half; ++i) {
    int64_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
    float x1 = x[a], x2 = x[b];
    x[a] = x1 * cos[i] - x2 * sin[i];
    x[b] = x2 * cos[i] + x1 * sin[i];
  }
}
}  // namespace

void rotary(Tensor& q, Tensor& k, const Tensor& positions, const Tensor& cos_sin, bool neox_style) {
  const int64_t T = q.dim(0), Hq = q.dim(1), Hk = k.dim(1), D = q.dim(2);
  const int64_t rot = cos_sin.dim(1), half = rot / 2;
  const int32_t* pos = positions.data<int32_t>();
  const float* cs = cos_sin.data<float>();
  float* qp = q.data<float>();
  float* kp = k.data<float>();
  parallel_for_if(T * (Hq + Hk) * D > (1 << 16), T, [&](int64_t t) {
    const float* c = cs + (int64_t)pos[t] * rot;
    const float* s = c + half;
    for (int64_t h = 0; h < Hq; ++h) rotate(qp + (t * Hq + h) * D, c, s, half, neox_style);
    for (int64_t h = 0; h < Hk; ++h) rotate(kp + (t * Hk + h) * D, c, s, half, neox_style);
  });
}

}  // namespace shardlm::cpu
