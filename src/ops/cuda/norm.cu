// CUDA LayerNorm and RMSNorm over the last dimension, plain and fused with the residual add before them: one
// block per row, f32 statistics (two passes for the variance, as the CPU reference does), 16-byte accesses
// when the row allows.
#include <type_traits>

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

// How the first pass over a row reads it: as stored, or as residual + x, the sum rounded to T and stored into
// residual on the way (the fused residual add; the norm then sees exactly what add_inplace would have left).
// The first pass visits each element of the row exactly once, always from the same thread.
template <typename T>
struct PlainRow {
  const T* x;
  __device__ __forceinline__ void load_vec(int64_t i, float* a) const { load_vec_f32(x + i, a); }
  __device__ __forceinline__ float load1(int64_t i) const { return to_f32(x[i]); }
};

template <typename T>
struct AddIntoResidual {
  T* residual;
  const T* x;
  __device__ __forceinline__ void load_vec(int64_t i, float* a) const {
    float b[kVec<T>];
    load_vec_f32(residual + i, a);
    load_vec_f32(x + i, b);
#pragma unroll
    for (int e = 0; e < kVec<T>; ++e) a[e] = to_f32(from_f32<T>(a[e] + b[e]));
    store_vec_f32(residual + i, a);
  }
  __device__ __forceinline__ float load1(int64_t i) const {
    const T s = from_f32<T>(to_f32(residual[i]) + to_f32(x[i]));
    residual[i] = s;
    return to_f32(s);
  }
};

// Sums f(value) over one row read through `row`, VEC-wide when possible (this thread's share).
template <typename T, bool VEC, class Row, typename F>
__device__ __forceinline__ float row_reduce(Row row, int64_t H, F f) {
  float acc = 0.f;
  if constexpr (VEC) {
    constexpr int V = kVec<T>;
    for (int64_t i = (int64_t)threadIdx.x * V; i < H; i += (int64_t)blockDim.x * V) {
      float a[V];
      row.load_vec(i, a);
#pragma unroll
      for (int e = 0; e < V; ++e) acc += f(a[e]);
    }
  } else {
    for (int64_t i = threadIdx.x; i < H; i += blockDim.x) acc += f(row.load1(i));
  }
  return acc;
}

// out[i] = g(i, row[i]) over one row.
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

// LayerNorm of one row into out. `in` reads the row for the mean (storing it, for AddIntoResidual); `row` is
// where the row lies afterwards, for the variance and output passes (block_sum's barriers order them).
template <typename T, bool VEC, class Row>
__device__ __forceinline__ void layer_norm_row(Row in, const T* row, const T* w, const T* b, T* out, int64_t H,
                                               float eps) {
  __shared__ float scratch[32];
  const float mean = block_sum(row_reduce<T, VEC>(in, H, [](float v) { return v; }), scratch) / (float)H;
  const float var = block_sum(row_reduce<T, VEC>(PlainRow<T>{row}, H, [mean](float v) { return (v - mean) * (v - mean); }),
                              scratch) /
                    (float)H;
  const float inv = rsqrtf(var + eps);
  row_map<T, VEC>(row, out, H, [=](int64_t i, float v) {
    float o = (v - mean) * inv;
    if (w) o *= to_f32(w[i]);
    if (b) o += to_f32(b[i]);
    return o;
  });
}

// RMSNorm of one row into out; `in` and `row` as for layer_norm_row.
template <typename T, bool VEC, class Row>
__device__ __forceinline__ void rms_norm_row(Row in, const T* row, const T* w, T* out, int64_t H, float eps) {
  __shared__ float scratch[32];
  const float ss = block_sum(row_reduce<T, VEC>(in, H, [](float v) { return v * v; }), scratch);
  const float inv = rsqrtf(ss / (float)H + eps);
  row_map<T, VEC>(row, out, H, [=](int64_t i, float v) { return (v * inv) * to_f32(w[i]); });
}

template <typename T, bool VEC>
__global__ void layer_norm_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                                  T* __restrict__ y, int64_t H, float eps) {
  const int64_t off = (int64_t)blockIdx.x * H;
  layer_norm_row<T, VEC>(PlainRow<T>{x + off}, x + off, w, b, y + off, H, eps);
}

template <typename T, bool VEC>
__global__ void rms_norm_kernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y, int64_t H,
                                float eps) {
  const int64_t off = (int64_t)blockIdx.x * H;
  rms_norm_row<T, VEC>(PlainRow<T>{x + off}, x + off, w, y + off, H, eps);
}

// residual += x; x = LayerNorm(residual).
template <typename T, bool VEC>
__global__ void add_layer_norm_kernel(T* __restrict__ x, T* __restrict__ residual, const T* __restrict__ w,
                                      const T* __restrict__ b, int64_t H, float eps) {
  const int64_t off = (int64_t)blockIdx.x * H;
  layer_norm_row<T, VEC>(AddIntoResidual<T>{residual + off, x + off}, residual + off, w, b, x + off, H, eps);
}

// residual += x; x = RMSNorm(residual).
template <typename T, bool VEC>
__global__ void add_rms_norm_kernel(T* __restrict__ x, T* __restrict__ residual, const T* __restrict__ w, int64_t H,
                                    float eps) {
  const int64_t off = (int64_t)blockIdx.x * H;
  rms_norm_row<T, VEC>(AddIntoResidual<T>{residual + off, x + off}, residual + off, w, x + off, H, eps);
}

void check_same(const Tensor* p, DType dt, const char* what) {
  if (p && p->dtype() != dt)
    fail("cuda ", what, ": parameter dtype ", dtype_name(p->dtype()), " differs from activations' ", dtype_name(dt));
}

// Calls launch(VEC, blocks, threads) for a [rows, H] op on element type T: one block per row, VEC (16-byte
// accesses) when the row width and every activation pointer allow it. Nothing for an empty tensor.
template <typename T, typename Launch>
void launch_per_row(const Tensor& x, std::initializer_list<const void*> activations, Launch launch) {
  const int64_t H = x.dim(-1), rows = H ? x.numel() / H : 0;
  if (rows == 0) return;
  bool vec = H % kVec<T> == 0;
  for (const void* p : activations) vec = vec && aligned16(p);
  if (vec) launch(std::true_type{}, (unsigned)rows, threads_for(H / kVec<T>));
  else launch(std::false_type{}, (unsigned)rows, threads_for(H));
  SHARDLM_CUDA_CHECK_LAUNCH();
}

template <typename T>
const T* data_or_null(const Tensor* t) {
  return t ? t->data<T>() : nullptr;
}

}  // namespace

void layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps, Tensor& y) {
  check_same(weight, x.dtype(), "layer_norm");
  check_same(bias, x.dtype(), "layer_norm");
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
    using T = decltype(tag);
    const int64_t H = x.dim(-1);
    launch_per_row<T>(x, {x.raw(), y.raw()}, [&](auto vec, unsigned blocks, int threads) {
      layer_norm_kernel<T, decltype(vec)::value><<<blocks, threads, 0, stream()>>>(
          x.data<T>(), data_or_null<T>(weight), data_or_null<T>(bias), y.data<T>(), H, eps);
    });
  });
}

void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) {
  check_same(&weight, x.dtype(), "rms_norm");
  dispatch_float(x.dtype(), "rms_norm", [&](auto tag) {
    using T = decltype(tag);
    const int64_t H = x.dim(-1);
    launch_per_row<T>(x, {x.raw(), y.raw()}, [&](auto vec, unsigned blocks, int threads) {
      rms_norm_kernel<T, decltype(vec)::value><<<blocks, threads, 0, stream()>>>(x.data<T>(), weight.data<T>(),
                                                                                y.data<T>(), H, eps);
    });
  });
}

void add_layer_norm(Tensor& x, Tensor& residual, const Tensor* weight, const Tensor* bias, float eps) {
  check_same(weight, x.dtype(), "add_layer_norm");
  check_same(bias, x.dtype(), "add_layer_norm");
  dispatch_float(x.dtype(), "add_layer_norm", [&](auto tag) {
    using T = decltype(tag);
    const int64_t H = x.dim(-1);
    launch_per_row<T>(x, {x.raw(), residual.raw()}, [&](auto vec, unsigned blocks, int threads) {
      add_layer_norm_kernel<T, decltype(vec)::value><<<blocks, threads, 0, stream()>>>(
          x.data<T>(), residual.data<T>(), data_or_null<T>(weight), data_or_null<T>(bias), H, eps);
    });
  });
}

void add_rms_norm(Tensor& x, Tensor& residual, const Tensor& weight, float eps) {
  check_same(&weight, x.dtype(), "add_rms_norm");
  dispatch_float(x.dtype(), "add_rms_norm", [&](auto tag) {
    using T = decltype(tag);
    const int64_t H = x.dim(-1);
    launch_per_row<T>(x, {x.raw(), residual.raw()}, [&](auto vec, unsigned blocks, int threads) {
      add_rms_norm_kernel<T, decltype(vec)::value><<<blocks, threads, 0, stream()>>>(
          x.data<T>(), residual.data<T>(), weight.data<T>(), H, eps);
    });
  });
}

}  // namespace shardlm::cuda
