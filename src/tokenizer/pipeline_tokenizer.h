// The Hugging Face tokenizers pipeline as a Tokenizer: added tokens -> normalizer -> pre-tokenizer ->
// BPE model -> post-processor when encoding; ids -> token strings -> decoder when decoding. Built from
// tokenizer.json (tokenizer_json.h) or from vocab.json + merges.txt (gpt2_files.h).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace shardlm {

struct Pipeline {
  std::unique_ptr<Normalizer> normalizer;      // may be null
  std::unique_ptr<PreTokenizer> pre_tokenizer;  // may be null: the whole stretch is one piece
  std::unique_ptr<BpeModel> model;
  std::unique_ptr<PostProcessor> post_processor;  // may be null: add_special_tokens adds nothing
  std::unique_ptr<Decoder> decoder;               // may be null: tokens joined with spaces
  std::vector<AddedToken> added_tokens;
};

class PipelineTokenizer final : public Tokenizer {
 public:
  // `bos_token` / `eos_token`: contents (from tokenizer_config.json) resolved to ids here.
  PipelineTokenizer(Pipeline pipeline, const std::optional<std::string>& bos_token,
                    const std::optional<std::string>& eos_token);

  std::vector<int32_t> encode(const std::string& text, bool add_special_tokens = true) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = true) const override;
  int32_t vocab_size() const override { return vocab_size_; }
  std::optional<int32_t> bos_token_id() const override { return bos_id_; }
  std::optional<int32_t> eos_token_id() const override { return eos_id_; }
  bool is_special(int32_t id) const override;
  std::string id_to_token(int32_t id) const override;

  // Added tokens first, then the model's vocabulary.
  std::optional<int32_t> token_to_id(const std::string& token) const;

 private:
  const std::string* token_for_id(int32_t id) const;

  Pipeline p_;
  AddedVocabulary added_;
  int32_t vocab_size_ = 0;
  std::optional<int32_t> bos_id_, eos_id_;
};

}  // namespace shardlm
