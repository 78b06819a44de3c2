// CUDA element-wise ops: residual add (optionally one row broadcast), bias add, activations, gated
// activations, dtype casts. Memory-bound: 16-byte accesses when sizes and addresses allow, f32 math.
#include "ops/cuda/cuda_context.h"
#include "ops/cuda/cuda_kernels.h"
#include "ops/cuda/device_math.cuh"

namespace shardlm::cuda {

namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float apply_act(Activation act, float v) {
  switch (act) {
    case Activation::Relu: return v > 0.f ? v : 0.f;
    case Activation::Gelu: return 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
    case Activation::GeluTanh: {
      const float c = 0.7978845608028654f;  // sqrt(2/pi)
      return 0.5f * v * (1.f + tanhf(c * (v + 0.044715f * v * v * v)));
    }
    case Activation::Silu: return v / (1.f + expf(-v));
  }
  return v;
}

// x[i] += y[i % period] for i < n; VEC: each thread handles one 16-byte vector (n, period multiples of it).
template <typename T, bool VEC>
__global__ void add_kernel(T* __restrict__ x, const T* __restrict__ y, int64_t n, int64_t period) {
  constexpr int V = VEC ? kVec<T> : 1;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t v = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; v < n / V; v += stride) {
    const int64_t i = v * V;
    const int64_t j = period == n ? i : i % period;
    if constexpr (VEC) {
      float a[V], b[V];
      load_vec_f32(x + i, a);
      load_vec_f32(y + j, b);
#pragma unroll
      for (int e = 0; e < V; ++e) a[e] += b[e];
      store_vec_f32(x + i, a);
    } else {
      x[i] = from_f32<T>(to_f32(x[i]) + to_f32(y[j]));
    }
  }
}

template <typename T>
void launch_add(T* x, const T* y, int64_t n, int64_t period) {
  if (n == 0) return;
  const bool vec = n % kVec<T> == 0 && period % kVec<T> == 0 && aligned16(x) && aligned16(y);
  if (vec) {
    add_kernel<T, true><<<grid_for(n / kVec<T>, kThreads), kThreads, 0, stream()>>>(x, y, n, period);
  } else {
    add_kernel<T, false><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(x, y, n, period);
  }
  SHARDLM_CUDA_CHECK_LAUNCH();
}

template <typename T, bool VEC>
__global__ void activation_kernel(T* __restrict__ x, int64_t n, Activation act) {
  constexpr int V = VEC ? kVec<T> : 1;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t v = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; v < n / V; v += stride) {
    const int64_t i = v * V;
    if constexpr (VEC) {
      float a[V];
      load_vec_f32(x + i, a);
#pragma unroll
      for (int e = 0; e < V; ++e) a[e] = apply_act(act, a[e]);
      store_vec_f32(x + i, a);
    } else {
      x[i] = from_f32<T>(apply_act(act, to_f32(x[i])));
    }
  }
}

// out[m, i] = act(gate_up[m, i]) * gate_up[m, I + i]
template <typename T, bool VEC>
__global__ void act_and_mul_kernel(const T* __restrict__ gate_up, T* __restrict__ out, int64_t M, int64_t I,
                                   Activation act) {
  constexpr int V = VEC ? kVec<T> : 1;
  const int64_t per_row = I / V, total = M * per_row;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t v = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; v < total; v += stride) {
    const int64_t m = v / per_row, i = (v % per_row) * V;
    const T* g = gate_up + m * 2 * I + i;
    if constexpr (VEC) {
      float a[V], b[V];
      load_vec_f32(g, a);
      load_vec_f32(g + I, b);
#pragma unroll
      for (int e = 0; e < V; ++e) a[e] = apply_act(act, a[e]) * b[e];
      store_vec_f32(out + m * I + i, a);
    } else {
      out[m * I + i] = from_f32<T>(apply_act(act, to_f32(g[0])) * to_f32(g[I]));
    }
  }
}

template <typename S, typename D>
__global__ void cast_kernel(const S* __restrict__ x, D* __restrict__ out, int64_t n) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = from_f32<D>(to_f32(x[i]));
}

}  // namespace

void add_inplace(Tensor& x, const Tensor& y) {
  dispatch_float(x.dtype(), "add_inplace", [&](auto tag) {
    using T = decltype(tag);
    launch_add<T>(x.data<T>(), y.data<T>(), x.numel(), y.numel());
  });
}

void add_bias_rows(Tensor& y, const Tensor& bias) {
  if (bias.dtype() != y.dtype())
    fail("cuda linear: bias dtype ", dtype_name(bias.dtype()), " differs from activations' ", dtype_name(y.dtype()));
  add_inplace(y, bias);
}

void activation_inplace(Tensor& x, Activation act) {
  dispatch_float(x.dtype(), "activation", [&](auto tag) {
    using T = decltype(tag);
    const int64_t n = x.numel();
    if (n == 0) return;
    if (n % kVec<T> == 0 && aligned16(x.raw())) {
      activation_kernel<T, true><<<grid_for(n / kVec<T>, kThreads), kThreads, 0, stream()>>>(x.data<T>(), n, act);
    } else {
      activation_kernel<T, false><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(x.data<T>(), n, act);
    }
    SHARDLM_CUDA_CHECK_LAUNCH();
  });
}

void act_and_mul(const Tensor& gate_up, Activation act, Tensor& out) {
  dispatch_float(out.dtype(), "act_and_mul", [&](auto tag) {
    using T = decltype(tag);
    const int64_t M = out.dim(0), I = out.dim(1);
    if (M * I == 0) return;
    if (I % kVec<T> == 0 && aligned16(gate_up.raw()) && aligned16(out.raw())) {
      act_and_mul_kernel<T, true><<<grid_for(M * I / kVec<T>, kThreads), kThreads, 0, stream()>>>(
          gate_up.data<T>(), out.data<T>(), M, I, act);
    } else {
      act_and_mul_kernel<T, false><<<grid_for(M * I, kThreads), kThreads, 0, stream()>>>(gate_up.data<T>(),
                                                                                           out.data<T>(), M, I, act);
    }
    SHARDLM_CUDA_CHECK_LAUNCH();
  });
}

void cast(const Tensor& x, Tensor& out) {
  const int64_t n = x.numel();
  dispatch_float(x.dtype(), "cast", [&](auto stag) {
    using S = decltype(stag);
    dispatch_float(out.dtype(), "cast", [&](auto dtag) {
      using D = decltype(dtag);
      if (n == 0) return;
      cast_kernel<S, D><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(x.data<S>(), out.data<D>(), n);
      SHARDLM_CUDA_CHECK_LAUNCH();
    });
  });
}

}  // namespace shardlm::cuda
