// Reading tokenizer_config.json and special_tokens_map.json (see tokenizer_config.h).
#include "tokenizer/tokenizer_config.h"

#include <filesystem>

#include "core/error.h"
#include "io/json_file.h"
#include "tokenizer/json_fields.h"

namespace shardlm {
namespace {

namespace jf = json_fields;

// A special token written as "text" or as {"content": "text", "lstrip": ..., ...}.
std::optional<AddedToken> parse_token(const jf::Json& value, const std::string& where) {
  if (value.is_null()) return std::nullopt;
  AddedToken t;
  t.special = true;
  t.normalized = false;
  if (value.is_string()) {
    t.content = value.get<std::string>();
    return t;
  }
  if (!value.is_object()) fail(where, ": expected a token string or object, found ", json_excerpt(value));
  t.content = jf::require_string(value, "content", where);
  t.lstrip = jf::get_bool(value, "lstrip", false, where);
  t.rstrip = jf::get_bool(value, "rstrip", false, where);
  t.single_word = jf::get_bool(value, "single_word", false, where);
  t.normalized = jf::get_bool(value, "normalized", false, where);
  t.special = jf::get_bool(value, "special", true, where);
  return t;
}

void read_token_fields(const jf::Json& j, const std::string& where, TokenizerConfig& config) {
  const std::pair<const char*, std::optional<AddedToken>*> fields[] = {
      {"bos_token", &config.bos_token}, {"eos_token", &config.eos_token}, {"unk_token", &config.unk_token},
      {"sep_token", &config.sep_token}, {"pad_token", &config.pad_token}, {"cls_token", &config.cls_token},
      {"mask_token", &config.mask_token}};
  for (const auto& [key, slot] : fields)
    if (j.contains(key)) *slot = parse_token(j[key], jf::child(where, key));
  if (j.contains("additional_special_tokens") && !j["additional_special_tokens"].is_null()) {
    const jf::Json& list = jf::require_array(j, "additional_special_tokens", where);
    config.additional_special_tokens.clear();
    for (size_t i = 0; i < list.size(); ++i)
      if (auto t = parse_token(list[i], jf::child(jf::child(where, "additional_special_tokens"), i)))
        config.additional_special_tokens.push_back(*t);
  }
}

std::optional<bool> optional_bool(const jf::Json& j, const std::string& key, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  return jf::get_bool(j, key, false, where);
}

}  // namespace

std::vector<AddedToken> TokenizerConfig::special_tokens() const {
  std::vector<AddedToken> out;
  for (const auto* t : {&bos_token, &eos_token, &unk_token, &sep_token, &pad_token, &cls_token, &mask_token})
    if (*t) out.push_back(**t);
  out.insert(out.end(), additional_special_tokens.begin(), additional_special_tokens.end());
  return out;
}

TokenizerConfig read_tokenizer_config(const std::string& dir) {
  TokenizerConfig config;
  const std::string config_path = dir + "/tokenizer_config.json";
  if (std::filesystem::exists(config_path)) {
    const jf::Json j = jf::read_file(config_path);
    if (!j.is_object()) fail(config_path, ": expected a JSON object at the top level");
    config.tokenizer_class = jf::get_string(j, "tokenizer_class", config_path);
    read_token_fields(j, config_path, config);
    config.add_bos_token = optional_bool(j, "add_bos_token", config_path);
    config.add_eos_token = optional_bool(j, "add_eos_token", config_path);
    config.add_prefix_space = jf::get_bool(j, "add_prefix_space", false, config_path);
    if (j.contains("added_tokens_decoder") && !j["added_tokens_decoder"].is_null()) {
      const std::string where = jf::child(config_path, "added_tokens_decoder");
      const jf::Json& decoder = jf::require_object(j, "added_tokens_decoder", config_path);
      for (const auto& [key, value] : decoder.items()) {
        std::optional<AddedToken> t = parse_token(value, jf::child(where, key));
        if (!t) continue;
        try {
          size_t used = 0;
          t->id = std::stoi(key, &used);
          if (used != key.size() || t->id < 0) throw std::invalid_argument(key);
        } catch (const std::exception&) {
          fail(jf::child(where, key), ": expected a non-negative integer token id as the key");
        }
        config.added_tokens_decoder.push_back(*t);
      }
    }
  }
  const std::string map_path = dir + "/special_tokens_map.json";
  if (std::filesystem::exists(map_path)) {
    const jf::Json j = jf::read_file(map_path);
    if (!j.is_object()) fail(map_path, ": expected a JSON object at the top level");
    read_token_fields(j, map_path, config);
  }
  return config;
}

}  // namespace shardlm
