// config.json / generation_config.json reading shared by every architecture.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <utility>

#include "core/error.h"
#include "io/json_file.h"
#include "models/model.h"

namespace shardlm {

namespace {
// A token id: an integer JSON number in [0, 2^31 - 1] (2^40 would otherwise wrap to 0, 2.0 or true pass as ids).
bool is_token_id(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= (uint64_t)INT32_MAX;
  return v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= INT32_MAX;
}

// `field` of `file` (config.json or generation_config.json): absent/null, a token id, or a list of them.
std::vector<int32_t> read_id_list(const nlohmann::json& v, const std::string& file, const std::string& field) {
  constexpr const char* kExpected = "an integer token id in [0, 2147483647] or a list of them";
  std::vector<int32_t> ids;
  if (v.is_null()) return ids;
  if (is_token_id(v)) return {(int32_t)v.get<int64_t>()};
  if (!v.is_array()) fail(file, ": field '", field, "' must be ", kExpected, ", got ", json_excerpt(v));
  for (size_t i = 0; i < v.size(); ++i) {
    if (!is_token_id(v[i]))
      fail(file, ": field '", field, "[", i, "]' must be ", kExpected, ", got ", json_excerpt(v[i]));
    ids.push_back((int32_t)v[i].get<int64_t>());
  }
  return ids;
}

// `field` of `file`: absent/null (nullopt) or one token id.
std::optional<int32_t> read_optional_id(const nlohmann::json& j, const std::string& file, const std::string& field) {
  if (!j.contains(field) || j[field].is_null()) return std::nullopt;
  if (!is_token_id(j[field]))
    fail(file, ": field '", field, "' must be an integer token id in [0, 2147483647], got ", json_excerpt(j[field]));
  return (int32_t)j[field].get<int64_t>();
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
  const std::string file = model_dir + "/config.json";
  c.json = read_json_file(file, "model config");
  if (!c.json.is_object()) fail(file, ": expected a JSON object, got ", json_excerpt(c.json));
  if (!c.json.contains("architectures") || c.json["architectures"].is_null())
    fail(file, ": field 'architectures' is missing (expected e.g. [\"OPTForCausalLM\"])");
  const nlohmann::json& archs = c.json["architectures"];
  if (!archs.is_array() || archs.empty() || !archs[0].is_string() || archs[0].get<std::string>().empty())
    fail(file, ": field 'architectures' must be a non-empty list of architecture names (e.g. [\"OPTForCausalLM\"]), got ",
         json_excerpt(archs));
  c.architecture = archs[0].get<std::string>();
  c.model_type = c.get_string("model_type", "");
  // transformers v4 writes `torch_dtype`, v5 writes `dtype`.
  std::string dt = c.get_string("dtype", c.get_string("torch_dtype", "float32"));
  c.dtype = parse_dtype(dt, file + " field 'dtype'");
  c.vocab_size = c.require_int("vocab_size");
  c.hidden_size = c.require_int("hidden_size");
  c.num_layers = c.require_int("num_hidden_layers");
  c.num_heads = c.require_int("num_attention_heads");
  c.num_kv_heads = c.get_int("num_key_value_heads", c.num_heads);
  for (const auto& [field, value] : {std::pair<const char*, int64_t>{"vocab_size", c.vocab_size},
                                     {"hidden_size", c.hidden_size},
                                     {"num_hidden_layers", c.num_layers},
                                     {"num_attention_heads", c.num_heads},
                                     {"num_key_value_heads", c.num_kv_heads}})
    if (value <= 0) fail(file, ": field '", field, "' must be positive, got ", value);
  c.head_dim = c.get_int("head_dim", c.hidden_size / c.num_heads);
  if (c.head_dim <= 0)
    fail(file, ": field 'head_dim' must be positive, got ", c.head_dim,
         c.json.contains("head_dim") ? "" : " (hidden_size / num_attention_heads)");
  c.max_position_embeddings = c.get_int("max_position_embeddings", 2048);
  if (c.max_position_embeddings <= 0)
    fail(file, ": field 'max_position_embeddings' must be positive, got ", c.max_position_embeddings);
  c.tie_word_embeddings = c.get_bool("tie_word_embeddings", true);
  c.bos_token_id = read_optional_id(c.json, file, "bos_token_id");
  c.eos_token_ids = read_id_list(c.json.value("eos_token_id", nlohmann::json()), file, "eos_token_id");
  const std::string gen = model_dir + "/generation_config.json";
  if (std::filesystem::exists(gen)) {
    nlohmann::json g = read_json_file(gen, "generation config");
    if (!g.is_object()) fail(gen, ": expected a JSON object, got ", json_excerpt(g));
    if (g.contains("eos_token_id") && !g["eos_token_id"].is_null())
      c.eos_token_ids = read_id_list(g["eos_token_id"], gen, "eos_token_id");
    if (auto bos = read_optional_id(g, gen, "bos_token_id")) c.bos_token_id = bos;
  }
  return c;
}

}  // namespace shardlm
