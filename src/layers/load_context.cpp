// Checkpoint slicing and dtype conversion for layer construction.
#include "layers/load_context.h"

#include <cstring>

#include "core/error.h"
#include "core/memory_arena.h"
#include "io/weight_store.h"

namespace shardlm {

namespace {
// A checkpoint tensor (normally a view of the mapped file; a copy only for misaligned bytes), never in a
// sleep-mode arena: only the parameters finish() makes belong there.
Tensor checkpoint_tensor(const WeightStore& weights, const std::string& name) {
  ArenaScope temporary(nullptr);
  return weights.get(name);
}
}  // namespace

LoadContext::LoadContext(const WeightStore& weights, int tp_rank, int tp_size, ProcessGroup* tp_group,
                         Device device, DType param_dtype, ParamDtypePolicy policy)
    : weights_(weights),
      tp_rank_(tp_rank),
      tp_size_(tp_size),
      tp_group_(tp_group),
      device_(device),
      param_dtype_(param_dtype),
      policy_(policy) {}

void LoadContext::add_prefix_alias(const std::string& canonical_prefix, const std::string& alias_prefix) {
  aliases_.emplace_back(canonical_prefix, alias_prefix);
}

std::string LoadContext::resolve(const std::string& name) const {
  if (weights_.has(name)) return name;
  for (const auto& [canon, alias] : aliases_) {
    if (name.compare(0, canon.size(), canon) == 0) {
      std::string alt = alias + name.substr(canon.size());
      if (weights_.has(alt)) return alt;
    }
  }
  return "";
}

bool LoadContext::has(const std::string& name) const { return !resolve(name).empty(); }

std::vector<int64_t> LoadContext::shape(const std::string& name) const {
  std::string r = resolve(name);
  if (r.empty()) fail("checkpoint is missing tensor '", name, "'");
  return weights_.info(r).shape;
}

void LoadContext::expect_shape(const std::string& name, const std::vector<int64_t>& expected) const {
  std::vector<int64_t> got = shape(name);
  if (got != expected) {
    auto str = [](const std::vector<int64_t>& s) {
      std::string o = "[";
      for (size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
      return o + "]";
    };
    fail("checkpoint tensor '", name, "' has shape ", str(got), ", expected ", str(expected),
         " from config.json");
  }
}

DType LoadContext::target_dtype(const Tensor& host) const {
  if (device_ != Device::CPU) return param_dtype_;
  if (host.ndim() < 2) return DType::F32;
  if (policy_ == ParamDtypePolicy::KeepStoredMatrices) return host.dtype();
  return param_dtype_;
}

Tensor LoadContext::finish(Tensor host, const std::string& name) {
  const DType dt = target_dtype(host);
  Tensor t = host.dtype() == dt ? host : host.to_dtype(dt);
  if (device_ != Device::CPU) {
    t = t.to(device_);  // straight from the mapped file when no conversion was needed
  } else if (t.raw() == host.raw()) {
    t = host.clone();  // never keep views of the mapped file as parameters
  }
  params_.push_back({name, t});
  return t;
}

void LoadContext::add_route(const std::string& source, WeightRoute::Slice slice, int64_t start, int64_t len,
                            int64_t dst_row) {
  WeightRoute r;
  r.source = source;
  r.full_shape = shape(source);
  r.param_index = params_.size() - 1;  // the parameter finish() registered last
  r.slice = slice;
  r.start = start;
  r.len = len;
  r.dst_row = dst_row;
  routes_.push_back(std::move(r));
}

Tensor LoadContext::take(const Tensor& full, const WeightRoute& r) {
  switch (r.slice) {
    case WeightRoute::Slice::Whole:
      return full;
    case WeightRoute::Slice::Rows:
      if (r.start < 0 || r.start + r.len > full.dim(0))
        fail("checkpoint tensor '", r.source, "' has ", full.dim(0), " rows; cannot take rows [", r.start, ", ",
             r.start + r.len, ")");
      return full.slice_rows(r.start, r.len);
    case WeightRoute::Slice::Cols: {
      if (full.ndim() != 2 || r.start < 0 || r.start + r.len > full.dim(1))
        fail("checkpoint tensor '", r.source, "' of shape ", full.shape_str(), ": cannot take columns [", r.start,
             ", ", r.start + r.len, ")");
      const int64_t rows = full.dim(0), cols = full.dim(1);
      const size_t es = dtype_size(full.dtype());
      Tensor part;
      {
        ArenaScope temporary(nullptr);  // sleep mode: only the parameter finish() makes goes in the weights arena
        part = Tensor::empty({rows, r.len}, full.dtype());
      }
      for (int64_t i = 0; i < rows; ++i)
        std::memcpy(static_cast<char*>(part.raw()) + (size_t)(i * r.len) * es,
                    static_cast<const char*>(full.raw()) + (size_t)(i * cols + r.start) * es, (size_t)r.len * es);
      return part;
    }
  }
  fail("internal error: unknown weight route slice");
}

Tensor LoadContext::load(const std::string& name) {
  std::string r = resolve(name);
  if (r.empty()) fail("checkpoint is missing tensor '", name, "'");
  Tensor t = finish(checkpoint_tensor(weights_, r), name);
  add_route(name, WeightRoute::Slice::Whole, 0, 0, 0);
  return t;
}

Tensor LoadContext::load_rows(const std::string& name, int64_t start, int64_t len, int64_t padded_rows) {
  std::string r = resolve(name);
  if (r.empty()) fail("checkpoint is missing tensor '", name, "'");
  WeightRoute route;
  route.source = name;
  route.slice = WeightRoute::Slice::Rows;
  route.start = start;
  route.len = len;
  Tensor part = take(checkpoint_tensor(weights_, r), route);
  if (padded_rows > len) {
    std::vector<int64_t> shp = part.shape();
    shp[0] = padded_rows;
    Tensor padded;
    {
      ArenaScope temporary(nullptr);  // as above: finish() copies it into the parameter
      padded = Tensor::zeros(shp, part.dtype());
    }
    if (len > 0) std::memcpy(padded.raw(), part.raw(), part.nbytes());
    part = padded;
  }
  Tensor t = finish(part, name);
  add_route(name, WeightRoute::Slice::Rows, start, len, 0);
  return t;
}

Tensor LoadContext::load_cols(const std::string& name, int64_t start, int64_t len) {
  std::string r = resolve(name);
  if (r.empty()) fail("checkpoint is missing tensor '", name, "'");
  WeightRoute route;
  route.source = name;
  route.slice = WeightRoute::Slice::Cols;
  route.start = start;
  route.len = len;
  Tensor t = finish(take(checkpoint_tensor(weights_, r), route), name);
  add_route(name, WeightRoute::Slice::Cols, start, len, 0);
  return t;
}

Tensor LoadContext::load_row_slices(const std::vector<RowSlice>& slices, const std::string& registered_name) {
  std::vector<Tensor> parts;
  int64_t total = 0, row_elems = -1;
  DType dt = DType::F32;
  for (const auto& s : slices) {
    std::string r = resolve(s.name);
    if (r.empty()) fail("checkpoint is missing tensor '", s.name, "'");
    WeightRoute route;
    route.source = s.name;
    route.slice = WeightRoute::Slice::Rows;
    route.start = s.start;
    route.len = s.len;
    Tensor full = checkpoint_tensor(weights_, r);
    Tensor p = take(full, route);
    int64_t re = full.dim(0) ? full.numel() / full.dim(0) : 0;
    if (row_elems >= 0 && re != row_elems) fail("checkpoint tensors fused into '", registered_name, "' differ in width");
    row_elems = re;
    dt = full.dtype();
    total += s.len;
    parts.push_back(p);
  }
  std::vector<int64_t> shape = parts.front().shape();
  shape[0] = total;
  Tensor cat;
  {
    ArenaScope temporary(nullptr);  // sleep mode: only the parameter finish() makes goes in the weights arena
    cat = Tensor::empty(shape, dt);
  }
  size_t off = 0;
  for (const auto& p : parts) {
    std::memcpy(static_cast<char*>(cat.raw()) + off, p.raw(), p.nbytes());
    off += p.nbytes();
  }
  Tensor t = finish(cat, registered_name);
  int64_t dst_row = 0;
  for (const auto& s : slices) {
    add_route(s.name, WeightRoute::Slice::Rows, s.start, s.len, dst_row);
    dst_row += s.len;
  }
  return t;
}

Tensor LoadContext::checkpoint(const std::string& name) const {
  std::string r = resolve(name);
  if (r.empty()) fail("checkpoint is missing tensor '", name, "'");
  return checkpoint_tensor(weights_, r);
}

Tensor LoadContext::add_parameter(const Tensor& host, const std::string& name) {
  Tensor t = device_ == Device::CPU ? host.clone() : host.to(device_);  // clone: in the weights arena, if any
  params_.push_back({name, t});
  return t;
}

void LoadContext::reload_from_checkpoint() {
  if (quant_.fp8)
    fail("reloading weights is not supported for FP8 models (", quant_.origin,
         "): their parameters are quantised, not copies of checkpoint tensors");
  for (const WeightRoute& route : routes_) {
    std::string r = resolve(route.source);
    if (r.empty()) fail("reload: the checkpoint no longer has tensor '", route.source, "'");
    Tensor full = checkpoint_tensor(weights_, r);
    if (full.shape() != route.full_shape)
      fail("reload: checkpoint tensor '", route.source, "' now has shape ", full.shape_str(), ", it had another at load");
    Tensor part = take(full, route);
    Tensor& param = params_[route.param_index].local;
    if (part.dtype() != param.dtype()) part = part.to_dtype(param.dtype());
    const int64_t rows = route.slice == WeightRoute::Slice::Cols ? param.dim(0) : part.dim(0);
    param.slice_rows(route.dst_row, rows).copy_from(part);
  }
}

}  // namespace shardlm
