// CPU element-wise ops: residual add, activations, gated activations, embedding lookup, row gather, casts.
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "ops/cpu/cpu_kernels.h"

namespace shardlm::cpu {

namespace {
inline float apply(Activation act, float v) {
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
}  // namespace

void add_inplace(Tensor& x, const Tensor& y) {
  float* xp = x.data<float>();
  const float* yp = y.data<float>();
  const int64_t n = x.numel(), period = y.numel();
  if (period == n) {
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) xp[i] += yp[i];
  } else {
#pragma omp parallel for if (n > 65536)
    for (int64_t r = 0; r < n / period; ++r)
      for (int64_t i = 0; i < period; ++i) xp[r * period + i] += yp[i];
  }
}

void activation_inplace(Tensor& x, Activation act) {
  float* xp = x.data<float>();
  const int64_t n = x.numel();
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) xp[i] = apply(act, xp[i]);
}

void act_and_mul(const Tensor& gate_up, Activation act, Tensor& out) {
  const int64_t M = out.dim(0), I = out.dim(1);
  const float* g = gate_up.data<float>();
  float* o = out.data<float>();
#pragma omp parallel for if (M * I > 65536)
  for (int64_t m = 0; m < M; ++m)
    for (int64_t i = 0; i < I; ++i) o[m * I + i] = apply(act, g[m * 2 * I + i]) * g[m * 2 * I + I + i];
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

void slice_cols(const Tensor& x, int64_t col_start, Tensor& out) {
  const int64_t M = x.dim(0), N = x.dim(1), n = out.dim(1);
  const size_t es = dtype_size(x.dtype());
  for (int64_t m = 0; m < M; ++m)
    std::memcpy(static_cast<char*>(out.raw()) + (size_t)(m * n) * es,
                static_cast<const char*>(x.raw()) + (size_t)(m * N + col_start) * es, (size_t)n * es);
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
