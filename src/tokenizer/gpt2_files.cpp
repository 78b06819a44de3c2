// vocab.json + merges.txt -> Pipeline (see gpt2_files.h).
#include "tokenizer/gpt2_files.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "io/json_file.h"
#include "io/mapped_file.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/pipeline_tokenizer.h"
#include "tokenizer/token_ids.h"
#include "tokenizer/tokenizer_config.h"

namespace shardlm {
namespace {

namespace jf = json_fields;

TokenIdMap read_vocab(const std::string& path) {
  const jf::Json j = jf::read_file(path);
  if (!j.is_object()) fail(path, ": expected a JSON object mapping token -> id");
  TokenIdMap vocab;
  vocab.reserve(j.size());
  for (const auto& [token, id] : j.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
      fail(path, ": token \"", token, "\" has id ", json_excerpt(id), ", expected a non-negative 32-bit integer");
    vocab.emplace(token, id.get<int32_t>());
  }
  return vocab;
}

// One merge per line, "left right"; a leading "#version" line and blank lines are skipped.
std::vector<std::pair<std::string, std::string>> read_merges(const std::string& path) {
  std::istringstream in(read_regular_file(path));  // a FIFO or directory is an Error, not a hang
  std::vector<std::pair<std::string, std::string>> merges;
  std::string line;
  size_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const size_t space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == line.size() ||
        line.find(' ', space + 1) != std::string::npos)
      fail(path, ":", line_number, ": expected \"left right\" (two tokens separated by one space), found \"", line,
           "\"");
    merges.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  return merges;
}

// Tokens of added_tokens.json ({"content": id}), an older way to extend the vocabulary.
std::vector<AddedToken> read_added_tokens_json(const std::string& dir) {
  std::vector<AddedToken> tokens;
  const std::string path = dir + "/added_tokens.json";
  if (!std::filesystem::exists(path)) return tokens;
  const jf::Json j = jf::read_file(path);
  if (!j.is_object()) fail(path, ": expected a JSON object mapping token -> id");
  for (const auto& [content, id] : j.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
      fail(path, ": token \"", content, "\" has id ", json_excerpt(id), ", expected a non-negative 32-bit integer");
    AddedToken t;
    t.content = content;
    t.id = id.get<int32_t>();
    tokens.push_back(std::move(t));
  }
  return tokens;
}

}  // namespace

std::unique_ptr<Tokenizer> load_gpt2_files(const std::string& dir) {
  const std::string vocab_path = dir + "/vocab.json";
  TokenIdMap vocab = read_vocab(vocab_path);
  const auto merges = read_merges(dir + "/merges.txt");
  const TokenizerConfig config = read_tokenizer_config(dir);

  // Added tokens, as transformers registers them: added_tokens_decoder and added_tokens.json keep their
  // ids; named special tokens take their vocabulary id, or the next free id when not in the vocabulary.
  std::vector<AddedToken> added = config.added_tokens_decoder;
  std::vector<AddedToken> added_json = read_added_tokens_json(dir);
  // Ids are bounded by the number of tokens defined (token_ids.h); the vocabulary's own are checked by BpeModel.
  const size_t num_tokens = vocab.size() + added.size() + added_json.size();
  for (const AddedToken& t : added)
    check_token_id(t.id, t.content, num_tokens, str_cat(dir, "/tokenizer_config.json: added_tokens_decoder.", t.id));
  for (const AddedToken& t : added_json) check_token_id(t.id, t.content, num_tokens, dir + "/added_tokens.json");
  for (AddedToken& t : added_json) added.push_back(std::move(t));
  int64_t next_free_id = 0;  // int64_t: `id + 1` of an id near INT32_MAX must not overflow
  for (const auto& [token, id] : vocab) next_free_id = std::max<int64_t>(next_free_id, int64_t{id} + 1);
  for (const AddedToken& t : added) next_free_id = std::max<int64_t>(next_free_id, int64_t{t.id} + 1);
  auto find_id = [&](const std::string& content) -> std::optional<int32_t> {
    for (const AddedToken& t : added)
      if (t.content == content) return t.id;
    auto it = vocab.find(content);
    if (it != vocab.end()) return it->second;
    return std::nullopt;
  };
  for (AddedToken t : config.special_tokens()) {
    if (t.content.empty()) continue;
    bool already_added = false;
    for (const AddedToken& a : added) already_added = already_added || a.content == t.content;
    if (already_added) continue;
    const std::optional<int32_t> known = find_id(t.content);
    if (known) {
      t.id = *known;
    } else {
      // The ids before it are below the bound, so this one is too (PipelineTokenizer checks); min() keeps
      // the cast exact regardless.
      t.id = static_cast<int32_t>(std::min<int64_t>(next_free_id++, INT32_MAX));
    }
    added.push_back(std::move(t));
  }

  // Non-empty special tokens are all in `added` by now, so their ids are known.
  auto special_id = [&](const std::optional<AddedToken>& token, const char* flag, const char* field) {
    const auto id = token ? find_id(token->content) : std::nullopt;
    if (!id) fail(dir, "/tokenizer_config.json: ", flag, " is true but no (non-empty) ", field, " is defined");
    return *id;
  };
  std::vector<int32_t> before, after;
  if (config.add_bos_token.value_or(false)) before.push_back(special_id(config.bos_token, "add_bos_token", "bos_token"));
  if (config.add_eos_token.value_or(false)) after.push_back(special_id(config.eos_token, "add_eos_token", "eos_token"));
  Pipeline p;
  p.model = std::make_unique<BpeModel>(std::move(vocab), merges, BpeOptions{}, vocab_path);
  p.pre_tokenizer = make_byte_level_pre_tokenizer(config.add_prefix_space, /*use_regex=*/true);
  p.decoder = make_byte_level_decoder();
  p.added_tokens = std::move(added);

  p.post_processor = make_template_post_processor(std::move(before), std::move(after));

  auto content = [](const std::optional<AddedToken>& t) -> std::optional<std::string> {
    return t ? std::optional<std::string>(t->content) : std::nullopt;
  };
  return std::make_unique<PipelineTokenizer>(std::move(p), content(config.bos_token), content(config.eos_token));
}

}  // namespace shardlm
