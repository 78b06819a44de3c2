// The model interface every architecture implements, the config fields they all share, and the registry
// mapping config.json's `architectures` to the file that builds it.
#pragma once
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "layers/attention.h"
#include "layers/load_context.h"

namespace shardlm {

struct ModelConfig {
  nlohmann::json json;  // config.json as read, for architecture-specific fields
  std::string model_dir;
  std::string architecture, model_type;
  int64_t vocab_size = 0, hidden_size = 0, num_layers = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0;
  int64_t max_position_embeddings = 2048;
  DType dtype = DType::F32;  // the checkpoint's dtype (config `torch_dtype` or `dtype`)
  bool tie_word_embeddings = false;
  std::optional<int32_t> bos_token_id;
  std::vector<int32_t> eos_token_ids;  // generation_config.json's, else config.json's

  // Reads an int/float/bool/string field with a default, Error naming the field when the type is wrong.
  int64_t get_int(const std::string& key, int64_t def) const;
  double get_float(const std::string& key, double def) const;
  bool get_bool(const std::string& key, bool def) const;
  std::string get_string(const std::string& key, const std::string& def) const;
  int64_t require_int(const std::string& key) const;
};

// Reads <model_dir>/config.json (+ generation_config.json when present). Fields absent take transformers'
// defaults for the architecture.
ModelConfig load_model_config(const std::string& model_dir);

class Model {
 public:
  virtual ~Model() = default;
  // Runs one step over the batch; returns f32 logits [S, vocab_size] on the model's device, bitwise identical on
  // all ranks. Queues device work only: nothing in it synchronises with the host or reads host memory, so a
  // step can be captured into a CUDA graph (engine/decode_graphs.h).
  virtual Tensor forward(const ForwardInputs& in, KVCache& cache) = 0;

  const ModelConfig& config() const { return config_; }
  // This rank's KV-cache geometry.
  int64_t num_layers() const { return config_.num_layers; }
  int64_t num_kv_heads_local() const { return kv_heads_local_; }
  int64_t head_dim() const { return config_.head_dim; }
  // This rank's parameters, by checkpoint name (direct access for user programs).
  const std::vector<NamedParameter>& parameters() const { return params_; }

 protected:
  Model(const ModelConfig& cfg) : config_(cfg) {}
  ModelConfig config_;
  int64_t kv_heads_local_ = 0;
  std::vector<NamedParameter> params_;

  friend std::unique_ptr<Model> create_model(const ModelConfig&, LoadContext&);
};

using ModelFactory = std::function<std::unique_ptr<Model>(const ModelConfig&, LoadContext&)>;
// The architectures, one line each in registry.cpp's table.
std::vector<std::string> supported_architectures();
// Builds the architecture named in the config, loading this rank's shard through ctx.
std::unique_ptr<Model> create_model(const ModelConfig& cfg, LoadContext& ctx);

}  // namespace shardlm
