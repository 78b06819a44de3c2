// Loading FP8 linear weights: checks of dtype and scale shapes, TP slicing of weights and scales, quantize-at-load.
#include "layers/fp8_linear.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "core/error.h"
#include "ops/ops.h"

namespace shardlm {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string o = "[";
  for (size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
  return o + "]";
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// One module's contribution: weight rows [r0, r0 + rows) x columns [c0, c0 + cols).
struct Part {
  int64_t rows = 0, cols = 0;
  std::vector<uint8_t> q;       // [rows, cols]
  std::vector<float> scale;     // per-row: [rows]; block: [grid_rows, grid_cols]
  int64_t grid_rows = 0, grid_cols = 0;
  float input_scale = std::numeric_limits<float>::quiet_NaN();  // static activation scale, when the scheme has one
};

std::vector<float> to_f32(const Tensor& t) {
  std::vector<float> v((size_t)t.numel());
  convert_to_f32(t.raw(), t.dtype(), v.data(), v.size());
  return v;
}

// A scale tensor of the checkpoint, as f32; Error naming it when absent or not floating.
std::vector<float> scale_values(const LoadContext& ctx, const std::string& name, const std::string& origin,
                                std::vector<int64_t>* shape) {
  if (!ctx.has(name)) fail("checkpoint is missing tensor '", name, "', which ", origin, " needs");
  Tensor t = ctx.checkpoint(name);
  if (t.dtype() != DType::F32 && t.dtype() != DType::BF16 && t.dtype() != DType::F16)
    fail("checkpoint tensor '", name, "' is ", dtype_name(t.dtype()), "; FP8 scales must be float32, bfloat16 or float16");
  *shape = t.shape();
  std::vector<float> v = to_f32(t);
  for (float s : v)
    if (!(s > 0.f) || !std::isfinite(s))
      fail("checkpoint tensor '", name, "' holds the scale ", s, "; FP8 scales must be positive and finite");
  return v;
}

// Block alignment of a slice [start, start + len) of a dimension of `total` split in blocks of `block`.
void check_block_slice(const std::string& tensor, const char* what, int64_t start, int64_t len, int64_t total,
                       int64_t block) {
  if (start % block != 0 || (len % block != 0 && start + len != total))
    fail("checkpoint tensor '", tensor, "': this rank takes ", what, " [", start, ", ", start + len, ") of ", total,
         ", which are not whole ", block, "-wide FP8 weight blocks; choose a tensor_parallel_size whose shards are "
         "whole blocks");
}

Part load_part(const LoadContext& ctx, const std::string& module, int64_t r0, int64_t rows, int64_t c0, int64_t cols) {
  const QuantConfig& qc = ctx.quantization();
  const std::string wname = module + ".weight";
  Tensor w = ctx.checkpoint(wname);
  if (w.ndim() != 2) fail("checkpoint tensor '", wname, "' has shape ", w.shape_str(), "; a 2-d weight expected");
  const int64_t N = w.dim(0), K = w.dim(1);
  if (r0 < 0 || c0 < 0 || r0 + rows > N || c0 + cols > K)
    fail("checkpoint tensor '", wname, "' of shape ", w.shape_str(), ": cannot take rows [", r0, ", ", r0 + rows,
         ") and columns [", c0, ", ", c0 + cols, ")");
  Part p;
  p.rows = rows;
  p.cols = cols;
  p.q.resize((size_t)(rows * cols));
  std::vector<float> full_scale;  // per-row [N] or block grid of the whole tensor
  int64_t gcols = 0;
  if (qc.serialized) {
    if (w.dtype() != DType::F8E4M3)
      fail("checkpoint tensor '", wname, "' is ", dtype_name(w.dtype()), "; ", qc.origin,
           " expects float8_e4m3fn (F8_E4M3) weights");
    const uint8_t* src = w.data<uint8_t>();
    for (int64_t r = 0; r < rows; ++r) std::memcpy(&p.q[(size_t)(r * cols)], src + (r0 + r) * K + c0, (size_t)cols);
    std::vector<int64_t> sshape;
    const std::string sname = module + "." + qc.weight_scale_name;
    std::vector<float> s = scale_values(ctx, sname, qc.origin, &sshape);
    switch (qc.weight_scales) {
      case Fp8WeightScales::PerTensor:
        if (s.size() != 1)
          fail("checkpoint tensor '", sname, "' has shape ", shape_str(sshape), "; ", qc.origin,
               " has per-tensor weight scales (shape [] or [1])");
        full_scale.assign((size_t)N, s[0]);
        break;
      case Fp8WeightScales::PerChannel:
        if (!(sshape == std::vector<int64_t>{N, 1} || sshape == std::vector<int64_t>{N}))
          fail("checkpoint tensor '", sname, "' has shape ", shape_str(sshape), "; ", qc.origin,
               " has per-channel weight scales, expected [", N, ", 1] for weight ", w.shape_str());
        full_scale = std::move(s);
        break;
      case Fp8WeightScales::Block:
        gcols = ceil_div(K, qc.block_k);
        if (sshape != std::vector<int64_t>{ceil_div(N, qc.block_n), gcols})
          fail("checkpoint tensor '", sname, "' has shape ", shape_str(sshape), "; ", qc.block_n, "x", qc.block_k,
               " blocks of weight ", w.shape_str(), " need [", ceil_div(N, qc.block_n), ", ", gcols, "]");
        full_scale = std::move(s);
        break;
    }
    if (qc.act == Fp8ActQuant::StaticPerTensor) {
      std::vector<int64_t> ishape;
      const std::string iname = module + ".input_scale";
      std::vector<float> is = scale_values(ctx, iname, qc.origin + " (static activation scales)", &ishape);
      if (is.size() != 1)
        fail("checkpoint tensor '", iname, "' has shape ", shape_str(ishape), "; one input scale expected");
      p.input_scale = is[0];
    }
  } else {
    if (w.dtype() != DType::F32 && w.dtype() != DType::F16 && w.dtype() != DType::BF16)
      fail("checkpoint tensor '", wname, "' is ", dtype_name(w.dtype()),
           "; quantization='fp8' quantises float32, float16 or bfloat16 weights");
    // The whole tensor, so that its scale is the same on every rank whatever the TP size.
    std::vector<float> wf = to_f32(w);
    std::vector<uint8_t> q((size_t)(N * K));
    quantize_fp8_weight(wf.data(), N, K, qc.weight_scales, qc.block_n, qc.block_k, q.data(), full_scale);
    if (qc.weight_scales == Fp8WeightScales::Block) gcols = ceil_div(K, qc.block_k);
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(&p.q[(size_t)(r * cols)], &q[(size_t)((r0 + r) * K + c0)], (size_t)cols);
  }
  if (qc.weight_scales != Fp8WeightScales::Block) {
    p.scale.assign(full_scale.begin() + r0, full_scale.begin() + r0 + rows);
    p.grid_rows = rows;
    p.grid_cols = 1;
    return p;
  }
  if (rows != N) check_block_slice(wname, "rows", r0, rows, N, qc.block_n);
  if (cols != K) check_block_slice(wname, "columns", c0, cols, K, qc.block_k);
  const int64_t gr0 = r0 / qc.block_n, gc0 = c0 / qc.block_k;
  p.grid_rows = ceil_div(r0 + rows, qc.block_n) - gr0;
  p.grid_cols = ceil_div(c0 + cols, qc.block_k) - gc0;
  p.scale.resize((size_t)(p.grid_rows * p.grid_cols));
  for (int64_t i = 0; i < p.grid_rows; ++i)
    for (int64_t j = 0; j < p.grid_cols; ++j)
      p.scale[(size_t)(i * p.grid_cols + j)] = full_scale[(size_t)((gr0 + i) * gcols + gc0 + j)];
  return p;
}

Tensor host_tensor(std::vector<int64_t> shape, DType dt, const void* data) {
  auto storage = std::make_shared<std::vector<uint8_t>>(
      static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + [&] {
        size_t n = dtype_size(dt);
        for (int64_t d : shape) n *= (size_t)d;
        return n;
      }());
  return Tensor::wrap(storage->data(), std::move(shape), dt, Device::CPU, storage);
}

// Concatenates parts along rows into the registered parameters.
Fp8Weight assemble(LoadContext& ctx, const std::vector<Part>& parts, const std::vector<std::string>& modules,
                   int64_t cols, const std::string& registered_name) {
  const QuantConfig& qc = ctx.quantization();
  const bool block = qc.weight_scales == Fp8WeightScales::Block;
  int64_t rows = 0, grid_rows = 0;
  std::vector<uint8_t> q;
  std::vector<float> scale;
  float input_scale = 0.f;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Part& p = parts[i];
    if (block && i + 1 < parts.size() && p.rows % qc.block_n != 0)
      fail("'", modules[i], "' contributes ", p.rows, " rows to the fused '", registered_name,
           "', not whole ", qc.block_n, "-row FP8 weight blocks, so the blocks of what follows would not line up");
    q.insert(q.end(), p.q.begin(), p.q.end());
    scale.insert(scale.end(), p.scale.begin(), p.scale.end());
    rows += p.rows;
    grid_rows += p.grid_rows;
    // One input feeds every fused projection, so it gets one scale: the largest (vLLM's choice).
    if (qc.act == Fp8ActQuant::StaticPerTensor) input_scale = std::max(input_scale, p.input_scale);
  }
  Fp8Weight w;
  w.block_n = block ? qc.block_n : 0;
  w.block_k = block ? qc.block_k : 0;
  w.act = qc.act;
  w.weight = ctx.add_parameter(host_tensor({rows, cols}, DType::F8E4M3, q.data()), registered_name + ".weight");
  std::vector<int64_t> sshape = block ? std::vector<int64_t>{grid_rows, parts.front().grid_cols}
                                      : std::vector<int64_t>{rows};
  w.scale = ctx.add_parameter(host_tensor(sshape, DType::F32, scale.data()),
                              registered_name + "." + qc.weight_scale_name);
  if (qc.act == Fp8ActQuant::StaticPerTensor)
    w.input_scale = ctx.add_parameter(host_tensor({1}, DType::F32, &input_scale), registered_name + ".input_scale");
  ops::check_fp8_weight(w, registered_name);
  return w;
}

}  // namespace

void quantize_fp8_weight(const float* w, int64_t N, int64_t K, Fp8WeightScales scales, int64_t block_n,
                         int64_t block_k, uint8_t* q, std::vector<float>& scale_out) {
  auto absmax = [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    float m = 0.f;
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = c0; c < c1; ++c) m = std::max(m, std::fabs(w[r * K + c]));
    return m;
  };
  switch (scales) {
    case Fp8WeightScales::PerTensor:
      scale_out.assign((size_t)N, fp8_dynamic_scale(absmax(0, N, 0, K)));
      break;
    case Fp8WeightScales::PerChannel:
      scale_out.resize((size_t)N);
      for (int64_t r = 0; r < N; ++r) scale_out[(size_t)r] = fp8_dynamic_scale(absmax(r, r + 1, 0, K));
      break;
    case Fp8WeightScales::Block: {
      const int64_t gr = ceil_div(N, block_n), gc = ceil_div(K, block_k);
      scale_out.resize((size_t)(gr * gc));
      for (int64_t i = 0; i < gr; ++i)
        for (int64_t j = 0; j < gc; ++j)
          scale_out[(size_t)(i * gc + j)] = fp8_dynamic_scale(
              absmax(i * block_n, std::min(N, (i + 1) * block_n), j * block_k, std::min(K, (j + 1) * block_k)));
      for (int64_t r = 0; r < N; ++r)
        for (int64_t c = 0; c < K; ++c)
          q[r * K + c] = quantize_fp8e4m3(w[r * K + c], scale_out[(size_t)((r / block_n) * gc + c / block_k)]);
      return;
    }
  }
  for (int64_t r = 0; r < N; ++r)
    for (int64_t c = 0; c < K; ++c) q[r * K + c] = quantize_fp8e4m3(w[r * K + c], scale_out[(size_t)r]);
}

Fp8Weight load_fp8_rows(LoadContext& ctx, const std::vector<LoadContext::RowSlice>& modules, int64_t in_features,
                        const std::string& registered_name) {
  std::vector<Part> parts;
  std::vector<std::string> names;
  for (const auto& m : modules) {
    std::vector<int64_t> shp = ctx.shape(m.name + ".weight");
    if (shp.size() != 2 || shp[1] != in_features)
      fail("checkpoint tensor '", m.name, ".weight' should have ", in_features, " input features");
    parts.push_back(load_part(ctx, m.name, m.start, m.len, 0, in_features));
    names.push_back(m.name);
  }
  return assemble(ctx, parts, names, in_features, registered_name);
}

Fp8Weight load_fp8_cols(LoadContext& ctx, const std::string& module, int64_t start, int64_t len) {
  std::vector<int64_t> shp = ctx.shape(module + ".weight");
  if (shp.size() != 2) fail("checkpoint tensor '", module, ".weight' should be 2-d");
  std::vector<Part> parts = {load_part(ctx, module, 0, shp[0], start, len)};
  return assemble(ctx, parts, {module}, len, module);
}

}  // namespace shardlm
