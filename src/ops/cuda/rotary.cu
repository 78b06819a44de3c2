// CUDA rotary position embedding, in place on q [T, Hq, D] and k [T, Hk, D]: neox (rotate-half) or
// interleaved (gpt-j) pairs over the first rot_dim features, angles from the f32 cos/sin table; and the same
// fused with splitting a QKV projection's output and writing k/v to the KV cache (qkv_to_cache).
#include "ops/cuda/cuda_context.h"
#include "ops/cuda/cuda_kernels.h"
#include "ops/cuda/device_math.cuh"

namespace shardlm::cuda {

namespace {

// One block per token; threads sweep (head, pair) over q's heads then k's.
template <typename T>
__global__ void rotary_kernel(T* __restrict__ q, T* __restrict__ k, const int32_t* __restrict__ positions,
                              const float* __restrict__ cos_sin, int64_t max_pos, int rot, int Hq, int Hk, int D, int half,
                              bool neox) {
  const int64_t t = blockIdx.x;
  const int64_t pos = positions[t];
  if (pos < 0 || pos >= max_pos) return;  // the runner rejects such positions before any op runs
  const float* c = cos_sin + pos * rot;
  const float* s = c + half;
  const int pairs = (Hq + Hk) * half;
  for (int idx = threadIdx.x; idx < pairs; idx += blockDim.x) {
    const int h = idx / half, i = idx % half;
    T* x = h < Hq ? q + (t * Hq + h) * D : k + (t * Hk + (h - Hq)) * D;
    const int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
    const float x1 = to_f32(x[a]), x2 = to_f32(x[b]);
    x[a] = from_f32<T>(x1 * c[i] - x2 * s[i]);
    x[b] = from_f32<T>(x2 * c[i] + x1 * s[i]);
  }
}

// qkv_to_cache: one block per token; thread i writes element i of the token's q, k and v heads (reading its
// rotary partner), so the three column copies, the rotary and the cache write are one pass over qkv. The
// arithmetic is rotary_kernel's.
template <typename T>
__global__ void qkv_to_cache_kernel(const T* __restrict__ qkv, const int32_t* __restrict__ positions,
                                    const float* __restrict__ cos_sin, int64_t max_pos, int rot, int half, bool neox,
                                    const int32_t* __restrict__ slots, T* __restrict__ q, T* __restrict__ k_cache,
                                    T* __restrict__ v_cache, int Hq, int Hk, int D) {
  const int64_t t = blockIdx.x;
  const int64_t pos = positions[t];
  const bool rotate = cos_sin != nullptr && pos >= 0 && pos < max_pos;
  const float* c = rotate ? cos_sin + pos * rot : nullptr;
  const int64_t slot = slots[t];
  const int width = (Hq + 2 * Hk) * D;
  const T* row = qkv + t * width;
  for (int idx = threadIdx.x; idx < width; idx += blockDim.x) {
    const int h = idx / D, d = idx % D;
    T* dst;
    if (h < Hq) dst = q + (t * Hq + h) * D + d;
    else if (slot < 0) continue;  // padding row: nothing cached
    else if (h < Hq + Hk) dst = k_cache + (slot * Hk + (h - Hq)) * D + d;
    else dst = v_cache + (slot * Hk + (h - Hq - Hk)) * D + d;
    if (!rotate || h >= Hq + Hk || d >= rot) {
      *dst = row[idx];
      continue;
    }
    const T* x = row + h * D;
    const int i = neox ? (d < half ? d : d - half) : d / 2;
    const int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
    const float x1 = to_f32(x[a]), x2 = to_f32(x[b]);
    *dst = from_f32<T>(d == a ? x1 * c[i] - x2 * c[half + i] : x2 * c[i] + x1 * c[half + i]);
  }
}

}  // namespace

void qkv_to_cache(const Tensor& qkv, const Tensor& positions, const Tensor* cos_sin, bool neox_style,
                  const Tensor& slot_mapping, Tensor& q, Tensor& k_cache, Tensor& v_cache) {
  dispatch_float(qkv.dtype(), "qkv_to_cache", [&](auto tag) {
    using T = decltype(tag);
    const int64_t T_ = qkv.dim(0);
    if (T_ == 0) return;
    const int width = (int)qkv.dim(1);
    int threads = (width + 31) / 32 * 32;
    threads = threads > 512 ? 512 : threads;
    const int rot = cos_sin ? (int)cos_sin->dim(1) : 0;
    qkv_to_cache_kernel<T><<<(unsigned)T_, threads, 0, stream()>>>(
        qkv.data<T>(), positions.data<int32_t>(), cos_sin ? cos_sin->data<float>() : nullptr,
        cos_sin ? cos_sin->dim(0) : 0, rot, rot / 2, neox_style, slot_mapping.data<int32_t>(), q.data<T>(),
        k_cache.data<T>(), v_cache.data<T>(), (int)q.dim(1), (int)k_cache.dim(2), (int)q.dim(2));
    SHARDLM_CUDA_CHECK_LAUNCH();
  });
}

void rotary(Tensor& q, Tensor& k, const Tensor& positions, const Tensor& cos_sin, bool neox_style) {
  if (q.dtype() != k.dtype()) fail("cuda rotary: q and k dtypes differ");
  dispatch_float(q.dtype(), "rotary", [&](auto tag) {
    using T = decltype(tag);
    const int64_t T_ = q.dim(0);
    const int half = (int)(cos_sin.dim(1) / 2);
    if (T_ == 0 || half == 0) return;
    const int pairs = (int)(q.dim(1) + k.dim(1)) * half;
    int threads = (pairs + 31) / 32 * 32;
    threads = threads > 512 ? 512 : threads;
    rotary_kernel<T><<<(unsigned)T_, threads, 0, stream()>>>(q.data<T>(), k.data<T>(), positions.data<int32_t>(),
                                                             cos_sin.data<float>(), cos_sin.dim(0), (int)cos_sin.dim(1), (int)q.dim(1),
                                                             (int)k.dim(1), (int)q.dim(2), half, neox_style);
    SHARDLM_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace shardlm::cuda
