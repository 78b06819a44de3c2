// Parallel linear layers: sharded loading and forward passes.
#include "layers/linear.h"

#include "layers/fp8_linear.h"

#include "core/error.h"
#include "distributed/process_group.h"
#include "ops/ops.h"

namespace shardlm {

int64_t divide_for_tp(int64_t total, int tp_size, const std::string& what) {
  if (total % tp_size != 0)
    fail(what, " (", total, ") is not divisible by tensor_parallel_size (", tp_size, ")");
  return total / tp_size;
}

namespace {
// y = x W^T (+ b) with the dense weight w or, when it is defined, the FP8 weight f.
Tensor run_linear(const Tensor& x, const Tensor& w, const Fp8Weight& f, const Tensor& b) {
  const Tensor* bias = b.defined() ? &b : nullptr;
  Tensor y = Tensor::empty({x.dim(0), f.defined() ? f.weight.dim(0) : w.dim(0)}, x.dtype(), x.device());
  if (f.defined()) ops::linear_fp8(x, f, bias, y);
  else ops::linear(x, w, bias, y);
  return y;
}

// The module name of a checkpoint weight name ("a.q_proj.weight" -> "a.q_proj").
std::string module_of(const std::string& weight_name) {
  const std::string suffix = ".weight";
  return weight_name.size() > suffix.size() && weight_name.compare(weight_name.size() - suffix.size(), suffix.size(),
                                                                   suffix) == 0
             ? weight_name.substr(0, weight_name.size() - suffix.size())
             : weight_name;
}

// Whether the fused modules hold FP8 weights: all of them or none (Error naming them when mixed).
bool fp8_modules(const LoadContext& ctx, const std::vector<LoadContext::RowSlice>& slices,
                 const std::string& registered_name) {
  size_t n = 0;
  for (const auto& s : slices) n += ctx.quantization().quantizes(module_of(s.name)) ? 1 : 0;
  if (n != 0 && n != slices.size())
    fail("the projections fused into '", registered_name, "' are partly excluded from FP8 quantisation (",
         ctx.quantization().origin, "); all or none of them must be");
  return n != 0;
}
}  // namespace

ColumnParallelLinear::ColumnParallelLinear(LoadContext& ctx, const std::string& name, int64_t in_features,
                                           int64_t out_features, bool bias) {
  int64_t local = divide_for_tp(out_features, ctx.tp_size(), "output size of '" + name + "'");
  ctx.expect_shape(name + ".weight", {out_features, in_features});
  if (ctx.quantization().quantizes(name)) fp8_ = load_fp8_rows(ctx, {{name, ctx.tp_rank() * local, local}}, in_features, name);
  else weight_ = ctx.load_rows(name + ".weight", ctx.tp_rank() * local, local);
  if (bias) bias_ = ctx.load_rows(name + ".bias", ctx.tp_rank() * local, local);
}

ColumnParallelLinear::ColumnParallelLinear(LoadContext& ctx, const std::vector<LoadContext::RowSlice>& weight_slices,
                                           const std::vector<LoadContext::RowSlice>& bias_slices,
                                           int64_t in_features, const std::string& registered_name) {
  for (const auto& s : weight_slices) {
    std::vector<int64_t> shp = ctx.shape(s.name);
    if (shp.size() != 2 || shp[1] != in_features)
      fail("checkpoint tensor '", s.name, "' should have ", in_features, " input features");
  }
  if (fp8_modules(ctx, weight_slices, registered_name)) {
    std::vector<LoadContext::RowSlice> modules;
    for (const auto& s : weight_slices) modules.push_back({module_of(s.name), s.start, s.len});
    fp8_ = load_fp8_rows(ctx, modules, in_features, registered_name);
  } else {
    weight_ = ctx.load_row_slices(weight_slices, registered_name + ".weight");
  }
  if (!bias_slices.empty()) bias_ = ctx.load_row_slices(bias_slices, registered_name + ".bias");
}

Tensor ColumnParallelLinear::forward(const Tensor& x) const { return run_linear(x, weight_, fp8_, bias_); }

RowParallelLinear::RowParallelLinear(LoadContext& ctx, const std::string& name, int64_t in_features,
                                     int64_t out_features, bool bias)
    : group_(ctx.tp_group()) {
  int64_t local = divide_for_tp(in_features, ctx.tp_size(), "input size of '" + name + "'");
  ctx.expect_shape(name + ".weight", {out_features, in_features});
  if (ctx.quantization().quantizes(name))
    fp8_ = load_fp8_cols(ctx, name, ctx.tp_rank() * local, local);
  else
    weight_ = ctx.tp_size() == 1 ? ctx.load(name + ".weight")
                                 : ctx.load_cols(name + ".weight", ctx.tp_rank() * local, local);
  if (bias) bias_ = ctx.load(name + ".bias");
}

Tensor RowParallelLinear::forward(const Tensor& x_local) const {
  Tensor y = run_linear(x_local, weight_, fp8_, Tensor());
  if (group_) group_->all_reduce(y);
  if (bias_.defined()) ops::add_inplace(y, bias_);
  return y;
}

ReplicatedLinear::ReplicatedLinear(LoadContext& ctx, const std::string& name, int64_t in_features,
                                   int64_t out_features, bool bias) {
  ctx.expect_shape(name + ".weight", {out_features, in_features});
  if (ctx.quantization().quantizes(name)) fp8_ = load_fp8_rows(ctx, {{name, 0, out_features}}, in_features, name);
  else weight_ = ctx.load(name + ".weight");
  if (bias) bias_ = ctx.load(name + ".bias");
}

Tensor ReplicatedLinear::forward(const Tensor& x) const { return run_linear(x, weight_, fp8_, bias_); }

HeadPartition partition_heads(int64_t num_heads, int64_t num_kv_heads, int64_t head_dim, int tp_rank, int tp_size) {
  HeadPartition p{};
  p.head_dim = head_dim;
  if (num_heads % tp_size != 0)
    fail("num_attention_heads (", num_heads, ") is not divisible by tensor_parallel_size (", tp_size, ")");
  p.num_heads_local = num_heads / tp_size;
  p.q_head_start = tp_rank * p.num_heads_local;
  if (num_kv_heads >= tp_size) {
    if (num_kv_heads % tp_size != 0)
      fail("num_key_value_heads (", num_kv_heads, ") is not divisible by tensor_parallel_size (", tp_size, ")");
    p.num_kv_heads_local = num_kv_heads / tp_size;
    p.kv_head_start = tp_rank * p.num_kv_heads_local;
  } else {
    // Fewer KV heads than ranks: each rank holds one KV head, replicated across tp_size/num_kv_heads ranks.
    if (tp_size % num_kv_heads != 0)
      fail("tensor_parallel_size (", tp_size, ") is not a multiple of num_key_value_heads (", num_kv_heads, ")");
    p.num_kv_heads_local = 1;
    p.kv_head_start = tp_rank / (tp_size / num_kv_heads);
  }
  return p;
}

ColumnParallelLinear make_qkv_linear(LoadContext& ctx, const std::string& q_name, const std::string& k_name,
                                     const std::string& v_name, int64_t hidden_size, const HeadPartition& h,
                                     bool bias, const std::string& registered_name) {
  const int64_t D = h.head_dim;
  std::vector<LoadContext::RowSlice> w = {
      {q_name + ".weight", h.q_head_start * D, h.num_heads_local * D},
      {k_name + ".weight", h.kv_head_start * D, h.num_kv_heads_local * D},
      {v_name + ".weight", h.kv_head_start * D, h.num_kv_heads_local * D},
  };
  std::vector<LoadContext::RowSlice> b;
  if (bias) {
    b = {{q_name + ".bias", h.q_head_start * D, h.num_heads_local * D},
         {k_name + ".bias", h.kv_head_start * D, h.num_kv_heads_local * D},
         {v_name + ".bias", h.kv_head_start * D, h.num_kv_heads_local * D}};
  }
  return ColumnParallelLinear(ctx, w, b, hidden_size, registered_name);
}

ColumnParallelLinear make_merged_column_linear(LoadContext& ctx, const std::vector<std::string>& names,
                                               int64_t in_features, int64_t out_features_each, bool bias,
                                               const std::string& registered_name) {
  int64_t local = divide_for_tp(out_features_each, ctx.tp_size(), "intermediate_size");
  std::vector<LoadContext::RowSlice> w, b;
  for (const auto& n : names) {
    ctx.expect_shape(n + ".weight", {out_features_each, in_features});
    w.push_back({n + ".weight", ctx.tp_rank() * local, local});
    if (bias) b.push_back({n + ".bias", ctx.tp_rank() * local, local});
  }
  return ColumnParallelLinear(ctx, w, b, in_features, registered_name);
}

}  // namespace shardlm
