// tokenizer.json -> Pipeline (see tokenizer_json.h).
#include "tokenizer/tokenizer_json.h"

#include <set>

#include "core/error.h"
#include "io/json_file.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/pipeline_tokenizer.h"
#include "tokenizer/token_ids.h"
#include "tokenizer/tokenizer_config.h"

namespace shardlm {
namespace {

namespace jf = json_fields;

TokenIdMap parse_vocab(const jf::Json& model, const std::string& where) {
  const jf::Json& vocab = jf::require_object(model, "vocab", where);
  TokenIdMap out;
  out.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
      fail(jf::child(jf::child(where, "vocab"), token), ": expected a non-negative 32-bit token id, found ", json_excerpt(id));
    out.emplace(token, id.get<int32_t>());
  }
  return out;
}

// Merges are "left right" strings (older files) or ["left", "right"] pairs (newer files).
std::vector<std::pair<std::string, std::string>> parse_merges(const jf::Json& model, const std::string& where) {
  std::vector<std::pair<std::string, std::string>> merges;
  if (!model.contains("merges") || model["merges"].is_null()) return merges;
  const jf::Json& list = jf::require_array(model, "merges", where);
  merges.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    const jf::Json& m = list[i];
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        fail(jf::child(jf::child(where, "merges"), i), ": expected \"left right\" with one space, found \"", s, "\"");
      merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      fail(jf::child(jf::child(where, "merges"), i), ": expected \"left right\" or [\"left\", \"right\"], found ",
           json_excerpt(m));
    }
  }
  return merges;
}

std::unique_ptr<BpeModel> parse_model(const jf::Json& root, const std::string& path) {
  const std::string where = jf::child(path, "model");
  const jf::Json& model = jf::require_object(root, "model", path);
  // Files from before the "type" tag existed are BPE when they have merges.
  const std::string type = model.contains("type") ? jf::type_of(model, where) : (model.contains("merges") ? "BPE" : "");
  if (type != "BPE") {
    fail(jf::child(where, "type"), ": model type '", type.empty() ? "(missing)" : type,
         "' is not supported (supported: BPE)");
  }
  if (model.contains("dropout") && !model["dropout"].is_null()) {
    if (!model["dropout"].is_number()) fail(jf::child(where, "dropout"), ": expected a number or null");
    if (model["dropout"].get<double>() > 0.0)
      fail(jf::child(where, "dropout"), ": BPE dropout ", model["dropout"].get<double>(),
           " is random at encode time and is not supported for inference; expected null or 0");
  }
  BpeOptions options;
  options.unk_token = jf::get_string(model, "unk_token", where);
  options.fuse_unk = jf::get_bool(model, "fuse_unk", false, where);
  options.byte_fallback = jf::get_bool(model, "byte_fallback", false, where);
  options.ignore_merges = jf::get_bool(model, "ignore_merges", false, where);
  options.continuing_subword_prefix = jf::get_string(model, "continuing_subword_prefix", where).value_or("");
  options.end_of_word_suffix = jf::get_string(model, "end_of_word_suffix", where).value_or("");
  return std::make_unique<BpeModel>(parse_vocab(model, where), parse_merges(model, where), std::move(options), where);
}

// `model_tokens`: the model's vocabulary entries, which with the added tokens bound the ids (token_ids.h).
std::vector<AddedToken> parse_added_tokens(const jf::Json& root, const std::string& path, size_t model_tokens) {
  std::vector<AddedToken> tokens;
  if (!root.contains("added_tokens") || root["added_tokens"].is_null()) return tokens;
  const jf::Json& list = jf::require_array(root, "added_tokens", path);
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = jf::child(jf::child(path, "added_tokens"), i);
    AddedToken t;
    const int64_t id = jf::require_int(list[i], "id", where);
    if (id < 0 || id > INT32_MAX) fail(jf::child(where, "id"), ": expected a non-negative 32-bit id, found ", id);
    t.id = static_cast<int32_t>(id);
    t.content = jf::require_string(list[i], "content", where);
    check_token_id(id, t.content, model_tokens + list.size(), jf::child(where, "id"));
    t.special = jf::get_bool(list[i], "special", false, where);
    t.lstrip = jf::get_bool(list[i], "lstrip", false, where);
    t.rstrip = jf::get_bool(list[i], "rstrip", false, where);
    t.single_word = jf::get_bool(list[i], "single_word", false, where);
    t.normalized = jf::get_bool(list[i], "normalized", !t.special, where);
    tokens.push_back(std::move(t));
  }
  return tokens;
}

template <typename Component, typename Factory>
std::unique_ptr<Component> optional_component(const jf::Json& root, const std::string& key, const std::string& path,
                                              Factory factory) {
  if (!root.contains(key) || root[key].is_null()) return nullptr;
  return factory(root[key], jf::child(path, key));
}

// transformers' Llama/Gemma tokenizer classes rebuild the single-sequence template from
// add_bos_token/add_eos_token, so a tokenizer_config.json that sets them decides BOS/EOS there.
bool class_rebuilds_template(const std::optional<std::string>& tokenizer_class) {
  static const std::set<std::string> kClasses = {"LlamaTokenizer",     "LlamaTokenizerFast", "CodeLlamaTokenizer",
                                                 "CodeLlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast"};
  return tokenizer_class && kClasses.count(*tokenizer_class) > 0;
}

std::optional<int32_t> find_token(const Pipeline& p, const std::string& content) {
  for (const AddedToken& t : p.added_tokens)
    if (t.content == content) return t.id;
  return p.model->token_to_id(content);
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& dir) {
  const std::string path = dir + "/tokenizer.json";
  const jf::Json root = jf::read_file(path);
  if (!root.is_object()) fail(path, ": expected a JSON object at the top level");

  Pipeline p;
  p.model = parse_model(root, path);
  p.normalizer = optional_component<Normalizer>(root, "normalizer", path, normalizer_from_json);
  p.pre_tokenizer = optional_component<PreTokenizer>(root, "pre_tokenizer", path, pre_tokenizer_from_json);
  p.post_processor = optional_component<PostProcessor>(root, "post_processor", path, post_processor_from_json);
  p.decoder = optional_component<Decoder>(root, "decoder", path, decoder_from_json);
  p.added_tokens = parse_added_tokens(root, path, p.model->num_tokens());

  const TokenizerConfig config = read_tokenizer_config(dir);
  auto content = [](const std::optional<AddedToken>& t) -> std::optional<std::string> {
    return t ? std::optional<std::string>(t->content) : std::nullopt;
  };
  if (class_rebuilds_template(config.tokenizer_class) &&
      (config.add_bos_token.has_value() || config.add_eos_token.has_value())) {
    // transformers' defaults for these classes: BOS yes, EOS no.
    const bool add_bos = config.add_bos_token.value_or(true);
    const bool add_eos = config.add_eos_token.value_or(false);
    const auto bos_id = config.bos_token ? find_token(p, config.bos_token->content) : std::nullopt;
    const auto eos_id = config.eos_token ? find_token(p, config.eos_token->content) : std::nullopt;
    if ((!add_bos || bos_id) && (!add_eos || eos_id)) {
      std::vector<int32_t> before, after;
      if (add_bos) before.push_back(*bos_id);
      if (add_eos) after.push_back(*eos_id);
      p.post_processor = make_template_post_processor(std::move(before), std::move(after));
    }
  }
  return std::make_unique<PipelineTokenizer>(std::move(p), content(config.bos_token), content(config.eos_token));
}

}  // namespace shardlm
