// FP8 activation quantisation on the GPU (cuda::quantize_fp8, and the per-row form linear_fp8 feeds to
// cuBLASLt) plus the outer-product rescale epilogue of linear_fp8's fallback. Same rule as the CPU reference
// (ops/cpu/linear_fp8.cpp): scale = fp8_dynamic_scale(absmax) (or the static input_scale), q = e4m3(x / scale)
// with IEEE division, round to nearest even, saturating at +-448.
#include <cuda_fp8.h>

#include "ops/cuda/cuda_context.h"
#include "ops/cuda/device_math.cuh"
#include "ops/cuda/fp8_kernels.h"

namespace shardlm::cuda {

namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float dynamic_scale(float absmax) {
  return fmaxf(__fdiv_rn(absmax, kFp8E4M3Max), kFp8MinDynamicScale);
}

__device__ __forceinline__ uint8_t to_e4m3(float v, float scale) {
  return (uint8_t)__nv_cvt_float_to_fp8(__fdiv_rn(v, scale), __NV_SATFINITE, __NV_E4M3);
}

__device__ float block_max(float v) {
  __shared__ float warp_max[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  if ((threadIdx.x & 31) == 0) warp_max[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    v = threadIdx.x < kThreads / 32 ? warp_max[threadIdx.x] : 0.f;
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (threadIdx.x == 0) warp_max[0] = v;
  }
  __syncthreads();
  const float r = warp_max[0];
  __syncthreads();
  return r;
}

// absmax of all of x into *out (non-negative floats order as their bits do, so an integer atomicMax works).
template <typename T>
__global__ void absmax_kernel(const T* x, int64_t n, unsigned int* out) {
  float m = 0.f;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    m = fmaxf(m, fabsf(to_f32(x[i])));
  m = block_max(m);
  if (threadIdx.x == 0) atomicMax(out, __float_as_uint(m));
}

// One block per (row m, group g) span of `group` features. The span's scale is: *fixed (static), the dynamic
// scale of *tensor_absmax (dynamic per tensor), or the dynamic scale of the span's own absmax. It is written
// to scales[g * scale_row_stride + m * scale_col_stride] when that is not null.
template <typename T>
__global__ void quantize_kernel(const T* x, int64_t K, int64_t group, uint8_t* q, const float* fixed,
                                const unsigned int* tensor_absmax, float* scales, int64_t scale_m_stride,
                                int64_t scale_g_stride, bool write_scale) {
  const int64_t m = blockIdx.x, g = blockIdx.y;
  const int64_t k0 = g * group, k1 = min(K, k0 + group);
  const T* row = x + m * K;
  float scale;
  if (fixed) {
    scale = *fixed;
  } else if (tensor_absmax) {
    scale = dynamic_scale(__uint_as_float(*tensor_absmax));
  } else {
    float a = 0.f;
    for (int64_t k = k0 + threadIdx.x; k < k1; k += blockDim.x) a = fmaxf(a, fabsf(to_f32(row[k])));
    scale = dynamic_scale(block_max(a));
  }
  if (write_scale && threadIdx.x == 0) scales[m * scale_m_stride + g * scale_g_stride] = scale;
  for (int64_t k = k0 + threadIdx.x; k < k1; k += blockDim.x) q[m * K + k] = to_e4m3(to_f32(row[k]), scale);
}

template <typename T>
void launch_quantize(const Tensor& x, Fp8ActQuant act, int64_t group, const Tensor* input_scale, Tensor& q,
                     float* scales, bool per_row_scales, bool groups_m_major) {
  const int64_t M = x.dim(0), K = x.dim(1);
  if (M == 0 || K == 0) return;
  const T* xp = static_cast<const T*>(x.raw());
  uint8_t* qp = q.data<uint8_t>();
  cudaStream_t s = stream();
  switch (act) {
    case Fp8ActQuant::DynamicPerToken:
      quantize_kernel<T><<<dim3((unsigned)M, 1), kThreads, 0, s>>>(xp, K, K, qp, nullptr, nullptr, scales, 1, 0, true);
      break;
    case Fp8ActQuant::StaticPerTensor:
    case Fp8ActQuant::DynamicPerTensor: {
      const float* fixed = act == Fp8ActQuant::StaticPerTensor ? input_scale->data<float>() : nullptr;
      Tensor absmax;
      if (!fixed) {
        absmax = Tensor::zeros({1}, DType::I32, Device::CUDA);
        absmax_kernel<T><<<grid_for(M * K, kThreads, 1024), kThreads, 0, s>>>(xp, M * K, absmax.data<unsigned int>());
        SHARDLM_CUDA_CHECK_LAUNCH();
      }
      // Per-row output (linear_fp8's cuBLASLt scale vector): every row writes its (equal) scale; else row 0 only.
      quantize_kernel<T><<<dim3((unsigned)M, 1), kThreads, 0, s>>>(
          xp, K, K, qp, fixed, fixed ? nullptr : absmax.data<unsigned int>(), scales, per_row_scales ? 1 : 0, 0, true);
      break;
    }
    case Fp8ActQuant::DynamicPerGroup: {
      const int64_t groups = (K + group - 1) / group;
      // [M, groups] row-major, or [groups, M] ("M-major", as cuBLASLt's 128-element vector scales of B read).
      const int64_t m_stride = groups_m_major ? 1 : groups, g_stride = groups_m_major ? M : 1;
      quantize_kernel<T><<<dim3((unsigned)M, (unsigned)groups), kThreads, 0, s>>>(xp, K, group, qp, nullptr, nullptr,
                                                                                scales, m_stride, g_stride, true);
      break;
    }
  }
  SHARDLM_CUDA_CHECK_LAUNCH();
}

// y[m, n] = acc[m, n] * x_scale[m] * w_scale[n] (+ bias[n]), converted to T.
template <typename T>
__global__ void rescale_kernel(const float* acc, int64_t M, int64_t N, const float* x_scale, const float* w_scale,
                               const T* bias, T* y) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < M * N; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t m = i / N, n = i % N;
    float v = acc[i] * x_scale[m] * w_scale[n];
    if (bias) v += to_f32(bias[n]);
    y[i] = from_f32<T>(v);
  }
}

}  // namespace

void quantize_fp8(const Tensor& x, Fp8ActQuant act, int64_t group, const Tensor* input_scale, Tensor& q,
                  Tensor& scales) {
  dispatch_float(x.dtype(), "quantize_fp8", [&](auto t) {
    launch_quantize<decltype(t)>(x, act, group, input_scale, q, scales.data<float>(), false, false);
  });
}

void quantize_fp8_for_gemm(const Tensor& x, Fp8ActQuant act, int64_t group, const Tensor* input_scale, Tensor& q,
                           Tensor& scales) {
  dispatch_float(x.dtype(), "linear_fp8", [&](auto t) {
    launch_quantize<decltype(t)>(x, act, group, input_scale, q, scales.data<float>(), true, true);
  });
}

void fp8_rescale(const Tensor& acc, const Tensor& x_scale, const Tensor& w_scale, const Tensor* bias, Tensor& y) {
  const int64_t M = y.dim(0), N = y.dim(1);
  if (M * N == 0) return;
  dispatch_float(y.dtype(), "linear_fp8", [&](auto t) {
    using T = decltype(t);
    rescale_kernel<T><<<grid_for(M * N, kThreads), kThreads, 0, stream()>>>(
        acc.data<float>(), M, N, x_scale.data<float>(), w_scale.data<float>(),
        bias ? static_cast<const T*>(bias->raw()) : nullptr, static_cast<T*>(y.raw()));
  });
  SHARDLM_CUDA_CHECK_LAUNCH();
}

}  // namespace shardlm::cuda
