// Argument checks and device dispatch for every op.
#include "ops/ops.h"

#include "core/error.h"
#include "ops/op_profile.h"

namespace shardlm {

namespace {
Backend* g_backends[2] = {nullptr, nullptr};
}

void register_backend(Device d, Backend* b) { g_backends[(int)d] = b; }

Backend& backend_for(Device d) {
  Backend* b = g_backends[(int)d];
  if (!b) fail("no '", device_name(d), "' backend in this build");
  return op_profile::enabled() ? op_profile::profiled(d, *b) : *b;
}

std::string fp8_act_quant_name(Fp8ActQuant a) {
  switch (a) {
    case Fp8ActQuant::DynamicPerToken: return "dynamic per-token";
    case Fp8ActQuant::DynamicPerTensor: return "dynamic per-tensor";
    case Fp8ActQuant::StaticPerTensor: return "static per-tensor";
    case Fp8ActQuant::DynamicPerGroup: return "dynamic per-group";
  }
  return "?";
}

std::vector<int64_t> fp8_act_scale_shape(Fp8ActQuant act, int64_t M, int64_t K, int64_t group) {
  switch (act) {
    case Fp8ActQuant::DynamicPerToken: return {M};
    case Fp8ActQuant::DynamicPerTensor:
    case Fp8ActQuant::StaticPerTensor: return {1};
    case Fp8ActQuant::DynamicPerGroup: return {M, group > 0 ? (K + group - 1) / group : 0};
  }
  return {};
}

namespace ops {

namespace {
void same_device(const Tensor& a, const Tensor& b, const char* op) {
  SHARDLM_CHECK(a.device() == b.device(), op, ": tensors on different devices");
}
bool is_float(DType d) { return d == DType::F32 || d == DType::F16 || d == DType::BF16; }
}  // namespace

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  SHARDLM_CHECK(x.ndim() == 2 && w.ndim() == 2 && y.ndim() == 2, "linear: 2-d tensors expected");
  SHARDLM_CHECK(x.dim(1) == w.dim(1), "linear: x ", x.shape_str(), " vs w ", w.shape_str());
  SHARDLM_CHECK(y.dim(0) == x.dim(0) && y.dim(1) == w.dim(0), "linear: y ", y.shape_str());
  SHARDLM_CHECK(!bias || bias->numel() == w.dim(0), "linear: bias size");
  SHARDLM_CHECK(is_float(w.dtype()) && x.dtype() == y.dtype(), "linear: dtypes");
  same_device(x, w, "linear");
  same_device(x, y, "linear");
  backend_for(x.device()).linear(x, w, bias, y);
}

void layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps, Tensor& y) {
  SHARDLM_CHECK(x.shape() == y.shape(), "layer_norm: shapes");
  SHARDLM_CHECK(!weight || weight->numel() == x.dim(-1), "layer_norm: weight size");
  SHARDLM_CHECK(!bias || bias->numel() == x.dim(-1), "layer_norm: bias size");
  backend_for(x.device()).layer_norm(x, weight, bias, eps, y);
}

void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) {
  SHARDLM_CHECK(x.shape() == y.shape() && weight.numel() == x.dim(-1), "rms_norm: shapes");
  backend_for(x.device()).rms_norm(x, weight, eps, y);
}

void add_inplace(Tensor& x, const Tensor& y) {
  SHARDLM_CHECK(x.dtype() == y.dtype() && (x.numel() == y.numel() || (x.ndim() >= 1 && y.numel() == x.dim(-1))),
                "add_inplace: shapes ", x.shape_str(), " ", y.shape_str());
  same_device(x, y, "add_inplace");
  backend_for(x.device()).add_inplace(x, y);
}

namespace {
// The checks both fused add-and-norm ops share: x and residual alike, parameters one row wide.
void check_add_norm(const Tensor& x, const Tensor& residual, const Tensor* weight, const Tensor* bias,
                    const char* op) {
  SHARDLM_CHECK(x.ndim() >= 1 && x.shape() == residual.shape(), op, ": x ", x.shape_str(), " vs residual ",
                residual.shape_str());
  SHARDLM_CHECK(is_float(x.dtype()) && x.dtype() == residual.dtype(), op, ": x is ", dtype_name(x.dtype()),
                ", residual ", dtype_name(residual.dtype()), " (one floating dtype expected)");
  const char *xb = static_cast<const char*>(x.raw()), *rb = static_cast<const char*>(residual.raw());
  SHARDLM_CHECK(x.numel() == 0 || xb + x.nbytes() <= rb || rb + residual.nbytes() <= xb, op,
                ": x and residual overlap (two buffers expected)");
  same_device(x, residual, op);
  for (const Tensor* p : {weight, bias}) {
    if (!p) continue;
    SHARDLM_CHECK(p->numel() == x.dim(-1) && is_float(p->dtype()), op, ": parameter ", p->shape_str(), " ",
                  dtype_name(p->dtype()), " for rows of ", x.dim(-1));
    same_device(x, *p, op);
  }
}
}  // namespace

void add_rms_norm(Tensor& x, Tensor& residual, const Tensor& weight, float eps) {
  check_add_norm(x, residual, &weight, nullptr, "add_rms_norm");
  backend_for(x.device()).add_rms_norm(x, residual, weight, eps);
}

void add_layer_norm(Tensor& x, Tensor& residual, const Tensor* weight, const Tensor* bias, float eps) {
  check_add_norm(x, residual, weight, bias, "add_layer_norm");
  backend_for(x.device()).add_layer_norm(x, residual, weight, bias, eps);
}

void activation_inplace(Tensor& x, Activation act) { backend_for(x.device()).activation_inplace(x, act); }

void act_and_mul(const Tensor& gate_up, Activation act, Tensor& out) {
  SHARDLM_CHECK(gate_up.ndim() == 2 && out.ndim() == 2 && gate_up.dim(0) == out.dim(0) &&
                    gate_up.dim(1) == 2 * out.dim(1),
                "act_and_mul: shapes");
  backend_for(out.device()).act_and_mul(gate_up, act, out);
}

void embedding(const Tensor& ids, const Tensor& table, int64_t vocab_start, Tensor& out) {
  SHARDLM_CHECK(ids.dtype() == DType::I32 && table.ndim() == 2 && out.ndim() == 2, "embedding: args");
  SHARDLM_CHECK(out.dim(0) == ids.numel() && out.dim(1) == table.dim(1), "embedding: out shape");
  backend_for(out.device()).embedding(ids, table, vocab_start, out);
}

void rotary(Tensor& q, Tensor& k, const Tensor& positions, const Tensor& cos_sin, bool neox_style) {
  SHARDLM_CHECK(q.ndim() == 3 && k.ndim() == 3 && q.dim(0) == k.dim(0) && positions.numel() == q.dim(0),
                "rotary: shapes");
  SHARDLM_CHECK(cos_sin.ndim() == 2 && cos_sin.dim(1) <= q.dim(2) && cos_sin.dtype() == DType::F32,
                "rotary: cos_sin cache");
  backend_for(q.device()).rotary(q, k, positions, cos_sin, neox_style);
}

void cache_write(const Tensor& k, const Tensor& v, const Tensor& slot_mapping, Tensor& k_cache, Tensor& v_cache) {
  SHARDLM_CHECK(k.ndim() == 3 && k_cache.ndim() == 4 && k.dim(1) == k_cache.dim(2) && k.dim(2) == k_cache.dim(3),
                "cache_write: k ", k.shape_str(), " cache ", k_cache.shape_str());
  SHARDLM_CHECK(slot_mapping.numel() == k.dim(0), "cache_write: slot_mapping size");
  backend_for(k.device()).cache_write(k, v, slot_mapping, k_cache, v_cache);
}

void qkv_to_cache(const Tensor& qkv, const Tensor& positions, const Tensor* cos_sin, bool neox_style,
                  const Tensor& slot_mapping, Tensor& q, Tensor& k_cache, Tensor& v_cache) {
  SHARDLM_CHECK(qkv.ndim() == 2 && q.ndim() == 3 && k_cache.ndim() == 4 && v_cache.shape() == k_cache.shape(),
                "qkv_to_cache: qkv ", qkv.shape_str(), " q ", q.shape_str(), " cache ", k_cache.shape_str());
  const int64_t T = qkv.dim(0), Hq = q.dim(1), D = q.dim(2), Hk = k_cache.dim(2);
  SHARDLM_CHECK(q.dim(0) == T && k_cache.dim(3) == D && qkv.dim(1) == (Hq + 2 * Hk) * D,
                "qkv_to_cache: qkv ", qkv.shape_str(), " does not hold q ", q.shape_str(), " and k/v of cache ",
                k_cache.shape_str());
  SHARDLM_CHECK(positions.numel() == T && slot_mapping.numel() == T, "qkv_to_cache: positions/slot_mapping size");
  SHARDLM_CHECK(qkv.dtype() == q.dtype() && qkv.dtype() == k_cache.dtype() && qkv.dtype() == v_cache.dtype(),
                "qkv_to_cache: qkv, q and the caches must share one dtype");
  if (cos_sin)
    SHARDLM_CHECK(cos_sin->ndim() == 2 && cos_sin->dim(1) <= D && cos_sin->dtype() == DType::F32,
                  "qkv_to_cache: cos_sin cache");
  same_device(qkv, q, "qkv_to_cache");
  backend_for(qkv.device()).qkv_to_cache(qkv, positions, cos_sin, neox_style, slot_mapping, q, k_cache, v_cache);
}

void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionMetadata& meta,
                     float scale, Tensor& out) {
  SHARDLM_CHECK(q.ndim() == 3 && q.shape() == out.shape(), "paged_attention: q/out shapes");
  SHARDLM_CHECK(q.dim(1) % k_cache.dim(2) == 0, "paged_attention: heads not a multiple of kv heads");
  SHARDLM_CHECK(q.dim(2) == k_cache.dim(3), "paged_attention: head_dim mismatch");
  backend_for(q.device()).paged_attention(q, k_cache, v_cache, meta, scale, out);
}

void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out) {
  SHARDLM_CHECK(x.ndim() == 2 && out.ndim() == 2 && out.dim(0) == rows.numel() && out.dim(1) == x.dim(1),
                "gather_rows: shapes");
  backend_for(x.device()).gather_rows(x, rows, out);
}

void slice_cols(const Tensor& x, int64_t col_start, Tensor& out) {
  SHARDLM_CHECK(out.ndim() == 2, "slice_cols: 2-d output expected");
  copy_cols(x, col_start, out, 0, out.dim(1));
}

void copy_cols(const Tensor& x, int64_t x_col, Tensor& out, int64_t out_col, int64_t num_cols) {
  SHARDLM_CHECK(x.ndim() == 2 && out.ndim() == 2 && out.dim(0) == x.dim(0) && x.dtype() == out.dtype(),
                "copy_cols: x ", x.shape_str(), " out ", out.shape_str());
  SHARDLM_CHECK(num_cols >= 0 && x_col >= 0 && out_col >= 0 && x_col + num_cols <= x.dim(1) &&
                    out_col + num_cols <= out.dim(1),
                "copy_cols: columns out of range");
  same_device(x, out, "copy_cols");
  backend_for(x.device()).copy_cols(x, x_col, out, out_col, num_cols);
}

Tensor slice_cols(const Tensor& x, int64_t col_start, int64_t num_cols) {
  Tensor out = Tensor::empty({x.dim(0), num_cols}, x.dtype(), x.device());
  slice_cols(x, col_start, out);
  return out;
}

void cast(const Tensor& x, Tensor& out) {
  SHARDLM_CHECK(x.numel() == out.numel(), "cast: sizes");
  if (x.dtype() == out.dtype()) {
    out.copy_from(x);
    return;
  }
  backend_for(x.device()).cast(x, out);
}

void check_fp8_weight(const Fp8Weight& w, const std::string& what) {
  SHARDLM_CHECK(w.weight.defined() && w.weight.ndim() == 2 && w.weight.dtype() == DType::F8E4M3, what,
                ": FP8 weight must be a 2-d float8_e4m3fn tensor");
  const int64_t N = w.weight.dim(0), K = w.weight.dim(1);
  SHARDLM_CHECK(w.scale.defined() && w.scale.dtype() == DType::F32, what, ": FP8 weight scales must be float32");
  SHARDLM_CHECK(w.block_n >= 0 && w.block_k >= 0 && (w.block_n == 0) == (w.block_k == 0), what,
                ": FP8 block size ", w.block_n, "x", w.block_k);
  if (w.block_n == 0) {
    SHARDLM_CHECK(w.scale.numel() == N, what, ": ", w.scale.numel(), " per-row scales for ", N, " rows");
  } else {
    const int64_t bn = (N + w.block_n - 1) / w.block_n, bk = (K + w.block_k - 1) / w.block_k;
    SHARDLM_CHECK(w.scale.ndim() == 2 && w.scale.dim(0) == bn && w.scale.dim(1) == bk, what, ": block scales ",
                  w.scale.shape_str(), " for a [", N, ", ", K, "] weight in ", w.block_n, "x", w.block_k,
                  " blocks (expected [", bn, ", ", bk, "])");
  }
  SHARDLM_CHECK(w.act != Fp8ActQuant::DynamicPerGroup || w.block_k > 0, what,
                ": per-group activation scales need block-quantised weights");
  SHARDLM_CHECK(w.act != Fp8ActQuant::StaticPerTensor ||
                    (w.input_scale.defined() && w.input_scale.numel() == 1 && w.input_scale.dtype() == DType::F32),
                what, ": a static activation scheme needs one float32 input_scale");
  same_device(w.weight, w.scale, "linear_fp8");
}

void quantize_fp8(const Tensor& x, Fp8ActQuant act, int64_t group, const Tensor* input_scale, Tensor& q,
                  Tensor& scales) {
  SHARDLM_CHECK(x.ndim() == 2 && is_float(x.dtype()), "quantize_fp8: 2-d floating x expected, got ", x.shape_str());
  SHARDLM_CHECK(q.shape() == x.shape() && q.dtype() == DType::F8E4M3, "quantize_fp8: q must be float8_e4m3fn ",
                x.shape_str());
  SHARDLM_CHECK(act != Fp8ActQuant::DynamicPerGroup || group > 0, "quantize_fp8: per-group scales need a group size");
  SHARDLM_CHECK(scales.dtype() == DType::F32 && scales.shape() == fp8_act_scale_shape(act, x.dim(0), x.dim(1), group),
                "quantize_fp8: scales ", scales.shape_str(), " for ", fp8_act_quant_name(act));
  SHARDLM_CHECK(act != Fp8ActQuant::StaticPerTensor ||
                    (input_scale && input_scale->numel() == 1 && input_scale->dtype() == DType::F32),
                "quantize_fp8: a static scheme needs one float32 input_scale");
  same_device(x, q, "quantize_fp8");
  same_device(x, scales, "quantize_fp8");
  if (input_scale) same_device(x, *input_scale, "quantize_fp8");
  backend_for(x.device()).quantize_fp8(x, act, group, input_scale, q, scales);
}

void linear_fp8(const Tensor& x, const Fp8Weight& w, const Tensor* bias, Tensor& y) {
  check_fp8_weight(w, "linear_fp8");
  SHARDLM_CHECK(x.ndim() == 2 && y.ndim() == 2 && is_float(x.dtype()) && x.dtype() == y.dtype(),
                "linear_fp8: x ", x.shape_str(), " y ", y.shape_str(), " (2-d, one floating dtype)");
  SHARDLM_CHECK(x.dim(1) == w.weight.dim(1), "linear_fp8: x ", x.shape_str(), " vs w ", w.weight.shape_str());
  SHARDLM_CHECK(y.dim(0) == x.dim(0) && y.dim(1) == w.weight.dim(0), "linear_fp8: y ", y.shape_str());
  SHARDLM_CHECK(!bias || bias->numel() == w.weight.dim(0), "linear_fp8: bias size");
  same_device(x, w.weight, "linear_fp8");
  same_device(x, y, "linear_fp8");
  backend_for(x.device()).linear_fp8(x, w, bias, y);
}

Activation parse_activation(const std::string& name) {
  if (name == "relu") return Activation::Relu;
  if (name == "gelu") return Activation::Gelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::GeluTanh;
  if (name == "silu" || name == "swish") return Activation::Silu;
  fail("unsupported activation function '", name, "' (expected relu, gelu, gelu_new, silu)");
}

}  // namespace ops
// The unfused default (backend.h): three column copies, rotary, cache_write, each through this backend.
void Backend::qkv_to_cache(const Tensor& qkv, const Tensor& positions, const Tensor* cos_sin, bool neox_style,
                           const Tensor& slot_mapping, Tensor& q, Tensor& k_cache, Tensor& v_cache) {
  const int64_t T = qkv.dim(0), Hq = q.dim(1), D = q.dim(2), Hk = k_cache.dim(2);
  Tensor q2 = q.reshape({T, Hq * D});
  copy_cols(qkv, 0, q2, 0, Hq * D);
  Tensor k = Tensor::empty({T, Hk, D}, qkv.dtype(), qkv.device()), v = Tensor::empty({T, Hk, D}, qkv.dtype(), qkv.device());
  Tensor k2 = k.reshape({T, Hk * D}), v2 = v.reshape({T, Hk * D});
  copy_cols(qkv, Hq * D, k2, 0, Hk * D);
  copy_cols(qkv, (Hq + Hk) * D, v2, 0, Hk * D);
  if (cos_sin) rotary(q, k, positions, *cos_sin, neox_style);
  cache_write(k, v, slot_mapping, k_cache, v_cache);
}

}  // namespace shardlm
