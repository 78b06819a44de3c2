// CPU element-wise ops: residual add, activations, gated activations (dispatch and portable kernels; the AVX2
// ones are in elementwise_avx2.cpp), embedding lookup, row gather, casts.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/rowwise_kernels.h"
#include "ops/cpu/thread_pool.h"

namespace shardlm::cpu {

float activation_scalar(Activation act, float v) {
  switch (act) {
    case Activation::Relu: return v > 0.f ? v : 0.f;
    case Activation::Gelu: return 0.5f * v * (1.f + std::erf(v * 0.70710678118654752f));
    case Activation::GeluTanh: {
      const float c = 0.7978845608028654f;  // sqrt(2/pi)
      return 0.5f * v * (1.f + std::tanh(c * (v + 0.044715f * v * v * v)));
    }
    case Activation::Silu: return v / (1.f + std::exp(-v));
  }
  return v;
}

void activation_portable(float* x, int64_t n, Activation act) {
  for (int64_t i = 0; i < n; ++i) x[i] = activation_scalar(act, x[i]);
}

void act_and_mul_rows_portable(const float* gate_up, int64_t I, Activation act, float* out, int64_t rows) {
  for (int64_t m = 0; m < rows; ++m) {
    const float* g = gate_up + m * 2 * I;
    for (int64_t i = 0; i < I; ++i) out[m * I + i] = activation_scalar(act, g[i]) * g[I + i];
  }
}

void add_inplace(Tensor& x, const Tensor& y) {
  float* xp = x.data<float>();
  const float* yp = y.data<float>();
  const int64_t n = x.numel(), period = y.numel();  // y is all of x, or one row broadcast over x's rows
  const int64_t rows = n / period, rows_per_chunk = std::max<int64_t>(1, 16384 / period);
  const int64_t chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
  parallel_for_if(n > 65536 && chunks > 1, chunks, [&](int64_t c) {
    for (int64_t r = c * rows_per_chunk; r < std::min(rows, (c + 1) * rows_per_chunk); ++r) {
      float* xr = xp + r * period;
      const float* yr = period == n ? yp + r * period : yp;
      for (int64_t i = 0; i < period; ++i) xr[i] += yr[i];
    }
  });
}

void activation_inplace(Tensor& x, Activation act) {
  float* xp = x.data<float>();
  const int64_t n = x.numel();
  const bool avx2 = active_isa() == Isa::Avx2;
  constexpr int64_t kChunk = 16384;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  parallel_for_if(chunks > 4, chunks, [&](int64_t c) {
    const int64_t len = std::min(kChunk, n - c * kChunk);
    if (avx2) activation_avx2(xp + c * kChunk, len, act);
    else activation_portable(xp + c * kChunk, len, act);
  });
}

void act_and_mul(const Tensor& gate_up, Activation act, Tensor& out) {
  const int64_t M = out.dim(0), I = out.dim(1);
  const float* g = gate_up.data<float>();
  float* o = out.data<float>();
  const bool avx2 = active_isa() == Isa::Avx2;
  parallel_for_if(M * I > 65536, M, [&](int64_t m) {
    if (avx2) act_and_mul_rows_avx2(g + m * 2 * I, I, act, o + m * I, 1);
    else act_and_mul_rows_portable(g + m * 2 * I, I, act, o + m * I, 1);
  });
}

void embedding(const Tensor& ids, const Tensor& table, int64_t vocab_start, Tensor& out) {
  const int64_t T = ids.numel(), H = table.dim(1), rows = table.dim(0);
  const int32_t* idp = ids.data<int32_t>();
  float* o = out.data<float>();
  const size_t esz = dtype_size(table.dtype());
  for (int64_t t = 0; t < T; ++t) {
    int64_t r = (int64_t)idp[t] - vocab_start;
    if (r < 0 || r >= rows) {
      std::memset(o + t * H, 0, (size_t)H * sizeof(float));
    } else {
      convert_to_f32(static_cast<const char*>(table.raw()) + (size_t)(r * H) * esz, table.dtype(), o + t * H,
                     (size_t)H);
    }
  }
}

void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out) {
  const int64_t H = x.dim(1);
  const size_t row_bytes = (size_t)H * dtype_size(x.dtype());
  const int32_t* r = rows.data<int32_t>();
  for (int64_t i = 0; i < rows.numel(); ++i) {
    SHARDLM_CHECK(r[i] >= 0 && r[i] < x.dim(0), "gather_rows: row out of range");
    std::memcpy(static_cast<char*>(out.raw()) + (size_t)i * row_bytes,
                static_cast<const char*>(x.raw()) + (size_t)r[i] * row_bytes, row_bytes);
  }
}

void copy_cols(const Tensor& x, int64_t x_col, Tensor& out, int64_t out_col, int64_t num_cols) {
  const int64_t M = x.dim(0), Nx = x.dim(1), No = out.dim(1);
  const size_t es = dtype_size(x.dtype());
  if (num_cols == 0) return;
  for (int64_t m = 0; m < M; ++m)
    std::memcpy(static_cast<char*>(out.raw()) + (size_t)(m * No + out_col) * es,
                static_cast<const char*>(x.raw()) + (size_t)(m * Nx + x_col) * es, (size_t)num_cols * es);
}

void cast(const Tensor& x, Tensor& out) {
  if (out.dtype() == DType::F32) {
    convert_to_f32(x.raw(), x.dtype(), out.data<float>(), (size_t)x.numel());
  } else {
    SHARDLM_CHECK(x.dtype() == DType::F32, "cpu cast: one side must be f32");
    convert_from_f32(x.data<float>(), out.raw(), out.dtype(), (size_t)x.numel());
  }
}

}  // namespace shardlm::cpu
