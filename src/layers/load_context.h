// What a layer needs to build itself: the checkpoint, this rank's place in the tensor-parallel group, the
// device and dtype parameters live in, and the registry that exposes parameters to the user.
// Layers ask for checkpoint tensors by their Hugging Face names; this class resolves prefix aliases
// (facebook/opt-125m's pytorch_model.bin says `decoder.*` where safetensors say `model.decoder.*`).
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "layers/quantization.h"

namespace shardlm {

class WeightStore;
class ProcessGroup;

struct NamedParameter {
  std::string name;  // checkpoint name of the full (unsharded) tensor
  Tensor local;      // this rank's shard
};

// Where one checkpoint tensor lands in a parameter: the part of the full tensor this rank holds and the rows
// of the parameter it fills. Every load records its routes, so new weights (full tensors under Hugging Face
// names, as an RL trainer holds them) can later be written into the same parameters in place: each rank
// slices its own shard exactly as the layer did at load time.
struct WeightRoute {
  enum class Slice : uint8_t { Whole, Rows, Cols };
  std::string source;               // checkpoint name of the full tensor, as the layer asked for it
  std::vector<int64_t> full_shape;  // that tensor's shape
  size_t param_index = 0;           // into LoadContext::parameters()
  Slice slice = Slice::Whole;
  int64_t start = 0, len = 0;       // Rows/Cols: the range of the full tensor's dim 0 / dim 1
  int64_t dst_row = 0;              // the parameter's first row it fills (Whole/Cols: 0)
};

// How floating checkpoint tensors become parameters. On the CPU, vectors (norm weights, biases) are always
// widened to f32, since the element-wise ops take f32 activations; matrices either take param_dtype
// (ConvertAll) or stay as stored (KeepStoredMatrices: the CPU linear kernels widen f16/bf16 in registers,
// which is exactly the arithmetic of widening at load, at half the memory traffic).
enum class ParamDtypePolicy { ConvertAll, KeepStoredMatrices };

class LoadContext {
 public:
  LoadContext(const WeightStore& weights, int tp_rank, int tp_size, ProcessGroup* tp_group, Device device,
              DType param_dtype, ParamDtypePolicy policy = ParamDtypePolicy::ConvertAll);

  int tp_rank() const { return tp_rank_; }
  int tp_size() const { return tp_size_; }
  ProcessGroup* tp_group() const { return tp_group_; }  // null when tp_size == 1
  Device device() const { return device_; }
  DType param_dtype() const { return param_dtype_; }
  ParamDtypePolicy param_dtype_policy() const { return policy_; }
  // Activations: f32 on the CPU, the model dtype on accelerators.
  DType act_dtype() const { return device_ == Device::CPU ? DType::F32 : param_dtype_; }

  // Which linears hold FP8 weights (default: none). Set before the model is built.
  void set_quantization(QuantConfig q) { quant_ = std::move(q); }
  const QuantConfig& quantization() const { return quant_; }

  // `alias` stands for `canonical` when the canonical name is absent (e.g. "model." -> "").
  void add_prefix_alias(const std::string& canonical_prefix, const std::string& alias_prefix);
  bool has(const std::string& name) const;
  std::vector<int64_t> shape(const std::string& name) const;  // Error naming the tensor when absent

  // Loads a whole tensor / rows [start, start+len) of dim 0 / columns [start, start+len) of dim 1,
  // in the dtype the policy picks (above), on the device, registered under `name`. load_rows with
  // padded_rows > len gives a parameter of padded_rows rows whose rows past `len` are zero.
  Tensor load(const std::string& name);
  Tensor load_rows(const std::string& name, int64_t start, int64_t len, int64_t padded_rows = -1);
  Tensor load_cols(const std::string& name, int64_t start, int64_t len);
  // Loads several row slices and concatenates them along dim 0 (fused QKV, merged gate/up).
  struct RowSlice {
    std::string name;
    int64_t start, len;
  };
  Tensor load_row_slices(const std::vector<RowSlice>& slices, const std::string& registered_name);
  // The checkpoint tensor `name` as stored (a view of the mapped file, outside any sleep-mode arena); Error
  // naming it when absent.
  Tensor checkpoint(const std::string& name) const;
  // Registers a parameter built by the caller from checkpoint data (FP8 weights and their scales) under
  // `name`: copied to the device as it is (no dtype conversion) and returned. It gets no weight route, so
  // reload_from_checkpoint refuses models that have such parameters.
  Tensor add_parameter(const Tensor& host, const std::string& name);
  // Checks that `name` has the expected shape; Error naming tensor, shape and expectation otherwise.
  void expect_shape(const std::string& name, const std::vector<int64_t>& expected) const;

  const std::vector<NamedParameter>& parameters() const { return params_; }
  const std::vector<WeightRoute>& routes() const { return routes_; }
  // The (canonical prefix, alias prefix) pairs, so callers can map an alias spelling to the canonical name.
  const std::vector<std::pair<std::string, std::string>>& prefix_aliases() const { return aliases_; }
  // Writes every parameter again from the checkpoint this context loaded from (the store must still be
  // open), through the recorded routes: the parameters keep their storage (addresses), only contents change.
  void reload_from_checkpoint();

 private:
  std::string resolve(const std::string& name) const;
  // Registers the parameter built from `host` (converted to the policy's dtype, moved to the device).
  Tensor finish(Tensor host, const std::string& name);
  void add_route(const std::string& source, WeightRoute::Slice slice, int64_t start, int64_t len, int64_t dst_row);
  // The part of `full` a route takes, as a contiguous host tensor.
  static Tensor take(const Tensor& full, const WeightRoute& r);
  DType target_dtype(const Tensor& host) const;

  const WeightStore& weights_;
  int tp_rank_, tp_size_;
  ProcessGroup* tp_group_;
  Device device_;
  DType param_dtype_;
  ParamDtypePolicy policy_;
  std::vector<std::pair<std::string, std::string>> aliases_;
  std::vector<NamedParameter> params_;
  std::vector<WeightRoute> routes_;
  QuantConfig quant_;
};

}  // namespace shardlm
