// Encoding and decoding through the tokenizers pipeline (see pipeline_tokenizer.h).
#include "tokenizer/pipeline_tokenizer.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/token_ids.h"
#include "tokenizer/utf8.h"

namespace shardlm {

PipelineTokenizer::PipelineTokenizer(Pipeline pipeline, const std::optional<std::string>& bos_token,
                                     const std::optional<std::string>& eos_token)
    : p_(std::move(pipeline)), added_(p_.added_tokens, p_.normalizer.get()) {
  SHARDLM_CHECK(p_.model != nullptr);
  // The loaders check ids with the file's name; this keeps `max_id + 1` in range for any other caller.
  const size_t num_tokens = p_.model->num_tokens() + p_.added_tokens.size();
  int32_t max_id = p_.model->max_id();
  for (const AddedToken& t : p_.added_tokens) {
    check_token_id(t.id, t.content, num_tokens, "tokenizer: added tokens");
    max_id = std::max(max_id, t.id);
  }
  vocab_size_ = max_id + 1;
  if (bos_token) bos_id_ = token_to_id(*bos_token);
  if (eos_token) eos_id_ = token_to_id(*eos_token);
}

std::optional<int32_t> PipelineTokenizer::token_to_id(const std::string& token) const {
  if (auto id = added_.find(token)) return id;
  return p_.model->token_to_id(token);
}

const std::string* PipelineTokenizer::token_for_id(int32_t id) const {
  if (const AddedToken* t = added_.find(id)) return &t->content;
  return p_.model->id_to_token(id);
}

bool PipelineTokenizer::is_special(int32_t id) const {
  const AddedToken* t = added_.find(id);
  return t != nullptr && t->special;
}

std::string PipelineTokenizer::id_to_token(int32_t id) const {
  const std::string* token = token_for_id(id);
  return token != nullptr ? *token : std::string();
}

std::vector<int32_t> PipelineTokenizer::encode(const std::string& text, bool add_special_tokens) const {
  const size_t bad = utf8::first_invalid_offset(text);
  if (bad != std::string::npos)
    fail("tokenizer input is not valid UTF-8: invalid byte 0x", std::hex, int(static_cast<unsigned char>(text[bad])),
         std::dec, " at offset ", bad, " of ", text.size());
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<TextPiece> pieces;
  for (TextSegment& segment : added_.split(text, p_.normalizer.get())) {
    if (segment.added_id >= 0) {
      ids.push_back(segment.added_id);
      continue;
    }
    pieces.clear();
    pieces.push_back({std::move(segment.text), segment.at_text_start});
    if (p_.pre_tokenizer) p_.pre_tokenizer->pre_tokenize(pieces);
    for (const TextPiece& piece : pieces) p_.model->encode(piece.text, ids);
  }
  if (p_.post_processor) return p_.post_processor->process(std::move(ids), add_special_tokens);
  return ids;
}

std::string PipelineTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size_)
      fail("cannot decode token id ", id, ": outside the vocabulary [0, ", vocab_size_, ")");
    const std::string* token = token_for_id(id);
    if (token == nullptr) continue;  // an unused id inside the range decodes to nothing, as in tokenizers
    if (skip_special_tokens && added_.is_special_content(*token)) continue;
    tokens.push_back(*token);
  }
  if (p_.decoder) return p_.decoder->decode(std::move(tokens));
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0) out += ' ';
    out += tokens[i];
  }
  return out;
}

}  // namespace shardlm
