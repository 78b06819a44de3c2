// CUDA LayerNorm and RMSNorm over the last dimension: one block per row, f32 statistics (two passes for
// the variance, as the CPU reference does), 16-byte accesses when the row allows.
#include "ops/cuda/cuda_context.h"
#include "ops/cuda/cuda_kernels.h"
#include "ops/cuda/device_math.cuh"

namespace shardlm::cuda {

namespace {

int threads_for(int64_t elems_per_thread_unit) {
  // Enough threads to cover the row in one sweep when possible, within [64, 1024].
  int64_t t = (elems_per_thread_unit + 31) / 32 * 32;
  if (t < 64) t = 64;
  if (t > 1024) t = 1024;
  return (int)t;
}

// Sums f(value) over one row, VEC-wide when possible.
template <typename T, bool VEC, typename F>
__device__ __forceinline__ float row_reduce(const T* row, int64_t H, F f) {
  float acc = 0.f;
  if constexpr (VEC) {
    constexpr int V = kVec<T>;
    for (int64_t i = (int64_t)threadIdx.x * V; i < H; i += (int64_t)blockDim.x * V) {
      float a[V];
      load_vec_f32(row + i, a);
#pragma unroll
      for (int e = 0; e < V; ++e) acc += f(a[e]);
    }
  } else {
    for (int64_t i = threadIdx.x; i < H; i += blockDim.x) acc += f(to_f32(row[i]));
  }
  return acc;
}

// y[i] = g(i, x[i]) over one row.
template <typename T, bool VEC, typename G>
__device__ __forceinline__ void row_map(const T* row, T* out, int64_t H, G g) {
  if constexpr (VEC) {
    constexpr int V = kVec<T>;
    for (int64_t i = (int64_t)threadIdx.x * V; i < H; i += (int64_t)blockDim.x * V) {
      float a[V];
      load_vec_f32(row + i, a);
#pragma unroll
      for (int e = 0; e < V; ++e) a[e] = g(i + e, a[e]);
      store_vec_f32(out + i, a);
    }
  } else {
    for (int64_t i = threadIdx.x; i < H; i += blockDim.x) out[i] = from_f32<T>(g(i, to_f32(row[i])));
  }
}

template <typename T, bool VEC>
__global__ void layer_norm_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                                  T* __restrict__ y, int64_t H, float eps) {
  __shared__ float scratch[32];
  const T* row = x + (int64_t)blockIdx.x * H;
  const float mean = block_sum(row_reduce<T, VEC>(row, H, [](float v) { return v; }), scratch) / (float)H;
  const float var =
      block_sum(row_reduce<T, VEC>(row, H, [mean](float v) { return (v - mean) * (v - mean); }), scratch) / (float)H;
  const float inv = rsqrtf(var + eps);
  row_map<T, VEC>(row, y + (int64_t)blockIdx.x * H, H, [=](int64_t i, float v) {
    float o = (v - mean) * inv;
    if (w) o *= to_f32(w[i]);
    if (b) o += to_f32(b[i]);
    return o;
  });
}

template <typename T, bool VEC>
__global__ void rms_norm_kernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y, int64_t H,
                                float eps) {
  __shared__ float scratch[32];
  const T* row = x + (int64_t)blockIdx.x * H;
  const float ss = block_sum(row_reduce<T, VEC>(row, H, [](float v) { return v * v; }), scratch);
  const float inv = rsqrtf(ss / (float)H + eps);
  row_map<T, VEC>(row, y + (int64_t)blockIdx.x * H, H, [=](int64_t i, float v) { return (v * inv) * to_f32(w[i]); });
}

void check_same(const Tensor* p, DType dt, const char* what) {
  if (p && p->dtype() != dt)
    fail("cuda ", what, ": parameter dtype ", dtype_name(p->dtype()), " differs from activations' ", dtype_name(dt));
}

}  // namespace

void layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps, Tensor& y) {
  check_same(weight, x.dtype(), "layer_norm");
  check_same(bias, x.dtype(), "layer_norm");
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
    using T = decltype(tag);
    const int64_t H = x.dim(-1), rows = H ? x.numel() / H : 0;
    if (rows == 0) return;
    const T* w = weight ? weight->data<T>() : nullptr;
    const T* b = bias ? bias->data<T>() : nullptr;
    const bool vec = H % kVec<T> == 0 && aligned16(x.raw()) && aligned16(y.raw());
    if (vec) {
      layer_norm_kernel<T, true><<<(unsigned)rows, threads_for(H / kVec<T>), 0, stream()>>>(x.data<T>(), w, b,
                                                                                           y.data<T>(), H, eps);
    } else {
      layer_norm_kernel<T, false><<<(unsigned)rows, threads_for(H), 0, stream()>>>(x.data<T>(), w, b, y.data<T>(), H,
                                                                                 eps);
    }
    SHARDLM_CUDA_CHECK_LAUNCH();
  });
}

void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) {
  check_same(&weight, x.dtype(), "rms_norm");
  dispatch_float(x.dtype(), "rms_norm", [&](auto tag) {
    using T = decltype(tag);
    const int64_t H = x.dim(-1), rows = H ? x.numel() / H : 0;
    if (rows == 0) return;
    const bool vec = H % kVec<T> == 0 && aligned16(x.raw()) && aligned16(y.raw());
    if (vec) {
      rms_norm_kernel<T, true><<<(unsigned)rows, threads_for(H / kVec<T>), 0, stream()>>>(
          x.data<T>(), weight.data<T>(), y.data<T>(), H, eps);
    } else {
      rms_norm_kernel<T, false><<<(unsigned)rows, threads_for(H), 0, stream()>>>(x.data<T>(), weight.data<T>(),
                                                                               y.data<T>(), H, eps);
    }
    SHARDLM_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace shardlm::cuda
