// config.json / generation_config.json reading shared by every architecture.
#include <filesystem>

#include "core/error.h"
#include "io/json_file.h"
#include "models/model.h"

namespace shardlm {

namespace {
std::vector<int32_t> read_id_list(const nlohmann::json& v, const std::string& what) {
  std::vector<int32_t> ids;
  if (v.is_null()) return ids;
  if (v.is_number_integer()) return {v.get<int32_t>()};
  if (v.is_array()) {
    for (const auto& e : v) {
      if (!e.is_number_integer()) fail(what, ": expected integer token ids");
      ids.push_back(e.get<int32_t>());
    }
    return ids;
  }
  fail(what, ": expected an integer or a list of integers");
}
}  // namespace

int64_t ModelConfig::get_int(const std::string& key, int64_t def) const {
  if (!json.contains(key) || json[key].is_null()) return def;
  if (!json[key].is_number_integer())
    fail(model_dir, "/config.json: field '", key, "' must be an integer, got ", json_excerpt(json[key]));
  return json[key].get<int64_t>();
}

double ModelConfig::get_float(const std::string& key, double def) const {
  if (!json.contains(key) || json[key].is_null()) return def;
  if (!json[key].is_number()) fail(model_dir, "/config.json: field '", key, "' must be a number, got ", json_excerpt(json[key]));
  return json[key].get<double>();
}

bool ModelConfig::get_bool(const std::string& key, bool def) const {
  if (!json.contains(key) || json[key].is_null()) return def;
  if (!json[key].is_boolean()) fail(model_dir, "/config.json: field '", key, "' must be true or false, got ", json_excerpt(json[key]));
  return json[key].get<bool>();
}

std::string ModelConfig::get_string(const std::string& key, const std::string& def) const {
  if (!json.contains(key) || json[key].is_null()) return def;
  if (!json[key].is_string()) fail(model_dir, "/config.json: field '", key, "' must be a string, got ", json_excerpt(json[key]));
  return json[key].get<std::string>();
}

int64_t ModelConfig::require_int(const std::string& key) const {
  if (!json.contains(key)) fail(model_dir, "/config.json: required field '", key, "' is missing");
  return get_int(key, 0);
}

ModelConfig load_model_config(const std::string& model_dir) {
  ModelConfig c;
  c.model_dir = model_dir;
  c.json = read_json_file(model_dir + "/config.json", "model config");
  if (!c.json.is_object()) fail(model_dir, "/config.json: expected a JSON object");
  if (c.json.contains("architectures") && c.json["architectures"].is_array() && !c.json["architectures"].empty())
    c.architecture = c.json["architectures"][0].get<std::string>();
  c.model_type = c.get_string("model_type", "");
  if (c.architecture.empty())
    fail(model_dir, "/config.json: field 'architectures' is missing (expected e.g. [\"OPTForCausalLM\"])");
  // transformers v4 writes `torch_dtype`, v5 writes `dtype`.
  std::string dt = c.get_string("dtype", c.get_string("torch_dtype", "float32"));
  c.dtype = parse_dtype(dt, model_dir + "/config.json field 'dtype'");
  c.vocab_size = c.require_int("vocab_size");
  c.hidden_size = c.require_int("hidden_size");
  c.num_layers = c.require_int("num_hidden_layers");
  c.num_heads = c.require_int("num_attention_heads");
  c.num_kv_heads = c.get_int("num_key_value_heads", c.num_heads);
  if (c.num_heads <= 0 || c.hidden_size <= 0 || c.num_layers <= 0 || c.vocab_size <= 0 || c.num_kv_heads <= 0)
    fail(model_dir, "/config.json: sizes must be positive");
  c.head_dim = c.get_int("head_dim", c.hidden_size / c.num_heads);
  c.max_position_embeddings = c.get_int("max_position_embeddings", 2048);
  c.tie_word_embeddings = c.get_bool("tie_word_embeddings", true);
  if (c.json.contains("bos_token_id") && c.json["bos_token_id"].is_number_integer())
    c.bos_token_id = c.json["bos_token_id"].get<int32_t>();
  c.eos_token_ids = read_id_list(c.json.value("eos_token_id", nlohmann::json()), model_dir + "/config.json eos_token_id");
  std::string gen = model_dir + "/generation_config.json";
  if (std::filesystem::exists(gen)) {
    nlohmann::json g = read_json_file(gen, "generation config");
    if (g.contains("eos_token_id") && !g["eos_token_id"].is_null())
      c.eos_token_ids = read_id_list(g["eos_token_id"], gen + " eos_token_id");
    if (g.contains("bos_token_id") && g["bos_token_id"].is_number_integer())
      c.bos_token_id = g["bos_token_id"].get<int32_t>();
  }
  return c;
}

}  // namespace shardlm
