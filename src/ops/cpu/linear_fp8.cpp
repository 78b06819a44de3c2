// The CPU reference of the FP8 linear (cpu::quantize_fp8, cpu::linear_fp8): activations are quantised exactly as
// the GPU's W8A8 path quantises them (same scales, same e4m3 rounding), then the product is taken in f32 on
// the dequantised values. Weights are dequantised one tile of rows at a time into a thread-local f32 buffer
// (never the whole matrix per call) and handed to the ordinary f32 linear kernels.
#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/linear_kernels.h"
#include "ops/cpu/thread_pool.h"

namespace shardlm::cpu {

namespace {

// fp8 byte -> f32, all 256 codes.
const std::array<float, 256>& fp8_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i) t[(size_t)i] = fp8e4m3_to_f32((uint8_t)i);
    return t;
  }();
  return table;
}

float absmax(const float* x, int64_t n) {
  float m = 0.f;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

void quantize_span(const float* x, int64_t n, float scale, uint8_t* q) {
  for (int64_t i = 0; i < n; ++i) q[i] = quantize_fp8e4m3(x[i], scale);
}

// Quantises x [M, K] f32 into q with `scales` (fp8_act_scale_shape).
void quantize_rows(const float* x, int64_t M, int64_t K, Fp8ActQuant act, int64_t group, float static_scale,
                   uint8_t* q, float* scales) {
  switch (act) {
    case Fp8ActQuant::DynamicPerToken:
      for (int64_t m = 0; m < M; ++m) {
        scales[m] = fp8_dynamic_scale(absmax(x + m * K, K));
        quantize_span(x + m * K, K, scales[m], q + m * K);
      }
      return;
    case Fp8ActQuant::DynamicPerTensor:
    case Fp8ActQuant::StaticPerTensor:
      scales[0] = act == Fp8ActQuant::StaticPerTensor ? static_scale : fp8_dynamic_scale(absmax(x, M * K));
      quantize_span(x, M * K, scales[0], q);
      return;
    case Fp8ActQuant::DynamicPerGroup: {
      const int64_t groups = (K + group - 1) / group;
      for (int64_t m = 0; m < M; ++m) {
        for (int64_t g = 0; g < groups; ++g) {
          const int64_t k0 = g * group, len = std::min(group, K - k0);
          const float s = fp8_dynamic_scale(absmax(x + m * K + k0, len));
          scales[m * groups + g] = s;
          quantize_span(x + m * K + k0, len, s, q + m * K + k0);
        }
      }
      return;
    }
  }
}

// The scale of x[m, k] after quantize_rows.
float act_scale(Fp8ActQuant act, const float* scales, int64_t m, int64_t k, int64_t group, int64_t groups) {
  switch (act) {
    case Fp8ActQuant::DynamicPerToken: return scales[m];
    case Fp8ActQuant::DynamicPerTensor:
    case Fp8ActQuant::StaticPerTensor: return scales[0];
    case Fp8ActQuant::DynamicPerGroup: return scales[m * groups + k / group];
  }
  return 0.f;
}

// The f32 activations tensor x as the GPU sees it after quantisation: fp8(q) * scale.
void fake_quantize(const float* x, int64_t M, int64_t K, const Fp8Weight& w, std::vector<float>& out) {
  const int64_t group = w.block_k;
  std::vector<int64_t> sshape = fp8_act_scale_shape(w.act, M, K, group);
  int64_t ns = 1;
  for (int64_t d : sshape) ns *= d;
  std::vector<float> scales((size_t)ns);
  std::vector<uint8_t> q((size_t)(M * K));
  const float static_scale = w.act == Fp8ActQuant::StaticPerTensor ? *w.input_scale.data<float>() : 0.f;
  quantize_rows(x, M, K, w.act, group, static_scale, q.data(), scales.data());
  const auto& table = fp8_table();
  const int64_t groups = group > 0 ? (K + group - 1) / group : 0;
  out.resize((size_t)(M * K));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k)
      out[(size_t)(m * K + k)] = table[q[(size_t)(m * K + k)]] * act_scale(w.act, scales.data(), m, k, group, groups);
}

// Rows [n0, n0 + rows) of w dequantised into buf [rows, K].
void dequantize_rows(const Fp8Weight& w, int64_t n0, int64_t rows, float* buf) {
  const int64_t K = w.weight.dim(1);
  const uint8_t* src = w.weight.data<uint8_t>() + n0 * K;
  const float* scale = w.scale.data<float>();
  const auto& table = fp8_table();
  if (w.block_n == 0) {
    for (int64_t r = 0; r < rows; ++r) {
      const float s = scale[n0 + r];
      for (int64_t k = 0; k < K; ++k) buf[r * K + k] = table[src[r * K + k]] * s;
    }
    return;
  }
  const int64_t kb = w.scale.dim(1);
  for (int64_t r = 0; r < rows; ++r) {
    const float* srow = scale + ((n0 + r) / w.block_n) * kb;
    for (int64_t k = 0; k < K; ++k) buf[r * K + k] = table[src[r * K + k]] * srow[k / w.block_k];
  }
}

}  // namespace

void quantize_fp8(const Tensor& x, Fp8ActQuant act, int64_t group, const Tensor* input_scale, Tensor& q,
                  Tensor& scales) {
  SHARDLM_CHECK(x.dtype() == DType::F32, "cpu quantize_fp8: f32 activations expected");
  quantize_rows(x.data<float>(), x.dim(0), x.dim(1), act, group, input_scale ? *input_scale->data<float>() : 0.f,
                q.data<uint8_t>(), scales.data<float>());
}

void linear_fp8(const Tensor& x, const Fp8Weight& w, const Tensor* bias, Tensor& y) {
  SHARDLM_CHECK(x.dtype() == DType::F32 && y.dtype() == DType::F32, "cpu linear_fp8: f32 activations expected");
  const int64_t M = x.dim(0), K = x.dim(1), N = w.weight.dim(0);
  if (M == 0 || N == 0) return;
  std::vector<float> bias_f32;
  if (bias) {
    bias_f32.resize((size_t)N);
    convert_to_f32(bias->raw(), bias->dtype(), bias_f32.data(), bias_f32.size());
  }
  std::vector<float> xq;
  fake_quantize(x.data<float>(), M, K, w, xq);

  // One tile of weight rows per work item: dequantised (tile * K f32, 1 MiB at K = 4096), multiplied by the
  // f32 kernels into a small [M, tile] block, then copied into y's columns.
  constexpr int64_t kTileRows = 64;
  const int64_t tiles = (N + kTileRows - 1) / kTileRows;
  const Isa isa = active_isa();
  const LinearPath path = default_linear_path(M);
  float* y_out = y.data<float>();
  auto run_tile = [&](int64_t t) {
    const int64_t n0 = t * kTileRows, rows = std::min(kTileRows, N - n0);
    thread_local std::vector<float> wbuf, ybuf;
    wbuf.resize((size_t)(rows * K));
    ybuf.resize((size_t)(M * rows));
    dequantize_rows(w, n0, rows, wbuf.data());
    LinearArgs a;
    a.x = xq.data();
    a.M = M;
    a.K = K;
    a.w = wbuf.data();
    a.w_dtype = DType::F32;
    a.N = rows;
    a.bias = bias ? bias_f32.data() + n0 : nullptr;
    a.y = ybuf.data();
    if (isa == Isa::Portable) linear_blas(a);
    else if (path == LinearPath::Gemv) gemv_avx2(a, 0, M, 0, rows);
    else gemm_avx2(a, 0, M, 0, rows);
    for (int64_t m = 0; m < M; ++m) std::copy_n(ybuf.data() + m * rows, rows, y_out + m * N + n0);
  };
  // The portable path's OpenBLAS runs its own threads: tiles then go one after another.
  const bool parallel = isa != Isa::Portable && num_threads() > 1 && tiles > 1 && M * N * K >= (1 << 15);
  parallel_for_if(parallel, tiles, run_tile);
}

}  // namespace shardlm::cpu
