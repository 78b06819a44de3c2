// CPU LayerNorm and RMSNorm over the last dimension (f32 activations), plain and fused with the residual add
// before them: dispatch over rows and the portable kernels (double sums); the AVX2 ones are in norm_avx2.cpp.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/rowwise_kernels.h"
#include "ops/cpu/thread_pool.h"

namespace shardlm::cpu {

namespace {

// The parameter as f32: its own storage when already f32, else a per-thread widened copy (slot 0 or 1).
const float* as_f32(const Tensor* t, int slot) {
  if (!t) return nullptr;
  if (t->dtype() == DType::F32) return t->data<float>();
  thread_local std::vector<float> buf[2];
  buf[slot].resize((size_t)t->numel());
  convert_to_f32(t->raw(), t->dtype(), buf[slot].data(), buf[slot].size());
  return buf[slot].data();
}

constexpr int64_t kRowsPerChunk = 16;

// Calls rows_fn(first_row, num_rows) over chunks of a [rows, H] tensor, in parallel when large enough.
template <class F>
void for_row_chunks(int64_t rows, int64_t H, F&& rows_fn) {
  const int64_t chunks = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
  parallel_for_if(rows * H > (1 << 16), chunks, [&](int64_t c) {
    const int64_t r0 = c * kRowsPerChunk;
    rows_fn(r0, std::min(kRowsPerChunk, rows - r0));
  });
}

// How a norm kernel reads its input row: as stored, or as residual + x with the sum stored into residual
// on the way (the fused residual add). Every reduction visits each element exactly once.
struct PlainRow {
  const float* x;
  float at(int64_t i) const { return x[i]; }
};
struct AddIntoResidual {
  float* residual;
  const float* x;
  float at(int64_t i) const { return residual[i] = residual[i] + x[i]; }
};

template <class Row>
double sum_sq(Row row, int64_t H) {
  double ss = 0;
  for (int64_t i = 0; i < H; ++i) {
    const float v = row.at(i);
    ss += (double)v * v;
  }
  return ss;
}

template <class Row>
double mean_of(Row row, int64_t H) {
  double sum = 0;
  for (int64_t i = 0; i < H; ++i) sum += row.at(i);
  return sum / (double)H;
}

void rms_scale_row(const float* x, const float* w, int64_t H, double ss, float eps, float* y) {
  const float inv = (float)(1.0 / std::sqrt(ss / (double)H + eps));
  for (int64_t i = 0; i < H; ++i) y[i] = (x[i] * inv) * w[i];
}

// The variance pass and the output pass of LayerNorm, given the row's mean.
void layer_norm_row_from_mean(const float* x, const float* w, const float* b, int64_t H, float eps, double mean,
                              float* y) {
  double var = 0;
  for (int64_t i = 0; i < H; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= (double)H;
  const float inv = (float)(1.0 / std::sqrt(var + eps));
  for (int64_t i = 0; i < H; ++i) {
    float v = (float)(x[i] - mean) * inv;
    if (w) v *= w[i];
    if (b) v += b[i];
    y[i] = v;
  }
}

void check_f32_activations(const Tensor& x, const char* op) {
  SHARDLM_CHECK(x.dtype() == DType::F32, "cpu ", op, ": f32 activations expected, got ", dtype_name(x.dtype()));
}

}  // namespace

void rms_norm_rows_portable(const float* x, const float* w, int64_t H, float eps, float* y, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) rms_scale_row(x + r * H, w, H, sum_sq(PlainRow{x + r * H}, H), eps, y + r * H);
}

void add_rms_norm_rows_portable(float* x, float* residual, const float* w, int64_t H, float eps, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x + r * H;
    float* rr = residual + r * H;
    rms_scale_row(rr, w, H, sum_sq(AddIntoResidual{rr, xr}, H), eps, xr);
  }
}

void layer_norm_rows_portable(const float* x, const float* w, const float* b, int64_t H, float eps, float* y,
                              int64_t rows) {
  for (int64_t r = 0; r < rows; ++r)
    layer_norm_row_from_mean(x + r * H, w, b, H, eps, mean_of(PlainRow{x + r * H}, H), y + r * H);
}

void add_layer_norm_rows_portable(float* x, float* residual, const float* w, const float* b, int64_t H, float eps,
                                  int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x + r * H;
    float* rr = residual + r * H;
    layer_norm_row_from_mean(rr, w, b, H, eps, mean_of(AddIntoResidual{rr, xr}, H), xr);
  }
}

void layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps, Tensor& y) {
  const int64_t H = x.dim(-1), rows = H ? x.numel() / H : 0;
  const float* w = as_f32(weight, 0);
  const float* b = as_f32(bias, 1);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  const bool avx2 = active_isa() == Isa::Avx2;
  for_row_chunks(rows, H, [&](int64_t r0, int64_t n) {
    if (avx2) layer_norm_rows_avx2(xp + r0 * H, w, b, H, eps, yp + r0 * H, n);
    else layer_norm_rows_portable(xp + r0 * H, w, b, H, eps, yp + r0 * H, n);
  });
}

void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) {
  const int64_t H = x.dim(-1), rows = H ? x.numel() / H : 0;
  const float* w = as_f32(&weight, 0);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  const bool avx2 = active_isa() == Isa::Avx2;
  for_row_chunks(rows, H, [&](int64_t r0, int64_t n) {
    if (avx2) rms_norm_rows_avx2(xp + r0 * H, w, H, eps, yp + r0 * H, n);
    else rms_norm_rows_portable(xp + r0 * H, w, H, eps, yp + r0 * H, n);
  });
}

void add_rms_norm(Tensor& x, Tensor& residual, const Tensor& weight, float eps) {
  check_f32_activations(x, "add_rms_norm");
  const int64_t H = x.dim(-1), rows = H ? x.numel() / H : 0;
  const float* w = as_f32(&weight, 0);
  float* xp = x.data<float>();
  float* rp = residual.data<float>();
  const bool avx2 = active_isa() == Isa::Avx2;
  for_row_chunks(rows, H, [&](int64_t r0, int64_t n) {
    if (avx2) add_rms_norm_rows_avx2(xp + r0 * H, rp + r0 * H, w, H, eps, n);
    else add_rms_norm_rows_portable(xp + r0 * H, rp + r0 * H, w, H, eps, n);
  });
}

void add_layer_norm(Tensor& x, Tensor& residual, const Tensor* weight, const Tensor* bias, float eps) {
  check_f32_activations(x, "add_layer_norm");
  const int64_t H = x.dim(-1), rows = H ? x.numel() / H : 0;
  const float* w = as_f32(weight, 0);
  const float* b = as_f32(bias, 1);
  float* xp = x.data<float>();
  float* rp = residual.data<float>();
  const bool avx2 = active_isa() == Isa::Avx2;
  for_row_chunks(rows, H, [&](int64_t r0, int64_t n) {
    if (avx2) add_layer_norm_rows_avx2(xp + r0 * H, rp + r0 * H, w, b, H, eps, n);
    else add_layer_norm_rows_portable(xp + r0 * H, rp + r0 * H, w, b, H, eps, n);
  });
}

}  // namespace shardlm::cpu
