// CUDA row movement: embedding lookup, row gather, KV-cache scatter (cache_write), column copies.
// Rows are copied in the widest unit (16/4/2/1 bytes) their size and alignment allow; no arithmetic.
#include "ops/cuda/cuda_context.h"
#include "ops/cuda/cuda_kernels.h"
#include "ops/cuda/device_math.cuh"

namespace shardlm::cuda {

namespace {

// dst[i] = src[index[i] - offset] when that row exists, else zeros. Units of type U; one block per row.
template <typename U>
__global__ void gather_rows_kernel(const U* __restrict__ src, int64_t src_rows, const int32_t* __restrict__ index,
                                   int64_t offset, U* __restrict__ dst, int64_t units_per_row) {
  const int64_t i = blockIdx.x;
  const int64_t r = (int64_t)index[i] - offset;
  U* out = dst + i * units_per_row;
  if (r < 0 || r >= src_rows) {
    for (int64_t u = threadIdx.x; u < units_per_row; u += blockDim.x) out[u] = U{};
    return;
  }
  const U* in = src + r * units_per_row;
  for (int64_t u = threadIdx.x; u < units_per_row; u += blockDim.x) out[u] = in[u];
}

// dst[index[i]] = src[i] for index[i] >= 0 (negative: padding token, skipped). blockIdx.y picks the pair.
template <typename U>
__global__ void scatter_rows_kernel(const U* __restrict__ src0, const U* __restrict__ src1,
                                    const int32_t* __restrict__ index, U* __restrict__ dst0, U* __restrict__ dst1,
                                    int64_t units_per_row) {
  const int64_t i = blockIdx.x;
  const int64_t slot = index[i];
  if (slot < 0) return;
  const U* in = (blockIdx.y == 0 ? src0 : src1) + i * units_per_row;
  U* out = (blockIdx.y == 0 ? dst0 : dst1) + slot * units_per_row;
  for (int64_t u = threadIdx.x; u < units_per_row; u += blockDim.x) out[u] = in[u];
}

// Widest copy unit for rows of row_bytes starting at the given pointers.
int unit_bytes(int64_t row_bytes, std::initializer_list<const void*> ptrs) {
  for (int unit : {16, 4, 2}) {
    bool ok = row_bytes % unit == 0;
    for (const void* p : ptrs) ok = ok && (reinterpret_cast<uintptr_t>(p) % unit == 0);
    if (ok) return unit;
  }
  return 1;
}

int threads_for_units(int64_t units) {
  int64_t t = (units + 31) / 32 * 32;
  return (int)(t < 32 ? 32 : (t > 256 ? 256 : t));
}

template <typename F>
void with_unit(int unit, F&& f) {
  switch (unit) {
    case 16: f(uint4{}); return;
    case 4: f(uint32_t{}); return;
    case 2: f(uint16_t{}); return;
    default: f(uint8_t{}); return;
  }
}

void gather(const Tensor& src, const Tensor& index, int64_t offset, Tensor& out) {
  const int64_t n = index.numel();
  const int64_t row_bytes = src.dim(1) * (int64_t)dtype_size(src.dtype());
  if (n == 0 || row_bytes == 0) return;
  const int unit = unit_bytes(row_bytes, {src.raw(), out.raw()});
  with_unit(unit, [&](auto tag) {
    using U = decltype(tag);
    const int64_t units = row_bytes / unit;
    gather_rows_kernel<U><<<(unsigned)n, threads_for_units(units), 0, stream()>>>(
        static_cast<const U*>(src.raw()), src.dim(0), index.data<int32_t>(), offset, static_cast<U*>(out.raw()),
        units);
    SHARDLM_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

void embedding(const Tensor& ids, const Tensor& table, int64_t vocab_start, Tensor& out) {
  if (table.dtype() != out.dtype())
    fail("cuda embedding: table dtype ", dtype_name(table.dtype()), " differs from the output's ",
         dtype_name(out.dtype()));
  gather(table, ids, vocab_start, out);
}

void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out) { gather(x, rows, 0, out); }

void cache_write(const Tensor& k, const Tensor& v, const Tensor& slot_mapping, Tensor& k_cache, Tensor& v_cache) {
  const int64_t T = k.dim(0);
  const int64_t row_bytes = k.dim(1) * k.dim(2) * (int64_t)dtype_size(k.dtype());
  if (T == 0 || row_bytes == 0) return;
  if (k.dtype() != k_cache.dtype() || v.dtype() != v_cache.dtype() || k.dtype() != v.dtype())
    fail("cuda cache_write: k/v dtype ", dtype_name(k.dtype()), " must match the KV cache's ",
         dtype_name(k_cache.dtype()));
  const int unit = unit_bytes(row_bytes, {k.raw(), v.raw(), k_cache.raw(), v_cache.raw()});
  with_unit(unit, [&](auto tag) {
    using U = decltype(tag);
    const int64_t units = row_bytes / unit;
    scatter_rows_kernel<U><<<dim3((unsigned)T, 2), threads_for_units(units), 0, stream()>>>(
        static_cast<const U*>(k.raw()), static_cast<const U*>(v.raw()), slot_mapping.data<int32_t>(),
        static_cast<U*>(k_cache.raw()), static_cast<U*>(v_cache.raw()), units);
    SHARDLM_CUDA_CHECK_LAUNCH();
  });
}

void copy_cols(const Tensor& x, int64_t x_col, Tensor& out, int64_t out_col, int64_t num_cols) {
  const int64_t M = x.dim(0), Nx = x.dim(1), No = out.dim(1);
  const size_t es = dtype_size(x.dtype());
  if (M == 0 || num_cols == 0) return;
  SHARDLM_CUDA_CHECK(cudaMemcpy2DAsync(static_cast<char*>(out.raw()) + out_col * es, (size_t)No * es,
                                       static_cast<const char*>(x.raw()) + x_col * es, (size_t)Nx * es,
                                       (size_t)num_cols * es, (size_t)M, cudaMemcpyDeviceToDevice, stream()));
}

}  // namespace shardlm::cuda
