// SentencePiece-backed tokenizer (see sentencepiece_model.h).
#include "tokenizer/sentencepiece_model.h"

#include "core/error.h"
#include "io/mapped_file.h"
#include "tokenizer/tokenizer_config.h"

#ifdef SHARDLM_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>
#endif

namespace shardlm {

#ifndef SHARDLM_HAVE_SENTENCEPIECE

std::unique_ptr<Tokenizer> load_sentencepiece_model(const std::string& dir) {
  fail(dir, "/tokenizer.model: shardlm was built without SentencePiece (install libsentencepiece-dev and "
            "reconfigure), so a folder with only tokenizer.model cannot be read");
}

#else

namespace {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  SentencePieceTokenizer(const std::string& dir) {
    const std::string path = dir + "/tokenizer.model";
    // Read here rather than by sp_.Load(path), which would block forever on a FIFO.
    const auto status = sp_.LoadFromSerializedProto(read_regular_file(path));
    if (!status.ok()) fail(path, ": not a readable SentencePiece model: ", status.ToString());
    const TokenizerConfig config = read_tokenizer_config(dir);
    bos_id_ = resolve(config.bos_token, sp_.bos_id());
    eos_id_ = resolve(config.eos_token, sp_.eos_id());
    add_bos_ = config.add_bos_token.value_or(true) && bos_id_.has_value();
    add_eos_ = config.add_eos_token.value_or(false) && eos_id_.has_value();
  }

  std::vector<int32_t> encode(const std::string& text, bool add_special_tokens) const override {
    std::vector<int> pieces;
    const auto status = sp_.Encode(text, &pieces);
    if (!status.ok()) fail("SentencePiece could not encode the text: ", status.ToString());
    std::vector<int32_t> ids;
    ids.reserve(pieces.size() + 2);
    if (add_special_tokens && add_bos_) ids.push_back(*bos_id_);
    ids.insert(ids.end(), pieces.begin(), pieces.end());
    if (add_special_tokens && add_eos_) ids.push_back(*eos_id_);
    return ids;
  }

  // SentencePiece renders control pieces as nothing; without skipping, their text is inserted between
  // the decoded stretches of ordinary pieces.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const override {
    std::string out;
    std::vector<int> run;
    auto flush = [&] {
      if (run.empty()) return;
      std::string text;
      const auto status = sp_.Decode(run, &text);
      if (!status.ok()) fail("SentencePiece could not decode the ids: ", status.ToString());
      out += text;
      run.clear();
    };
    for (int32_t id : ids) {
      if (id < 0 || id >= vocab_size())
        fail("cannot decode token id ", id, ": outside the vocabulary [0, ", vocab_size(), ")");
      if (is_special(id)) {
        if (skip_special_tokens) continue;
        flush();
        out += sp_.IdToPiece(id);
      } else {
        run.push_back(id);
      }
    }
    flush();
    return out;
  }

  int32_t vocab_size() const override { return sp_.GetPieceSize(); }
  std::optional<int32_t> bos_token_id() const override { return bos_id_; }
  std::optional<int32_t> eos_token_id() const override { return eos_id_; }
  bool is_special(int32_t id) const override {
    return id >= 0 && id < vocab_size() && (sp_.IsControl(id) || sp_.IsUnknown(id));
  }
  std::string id_to_token(int32_t id) const override {
    return (id >= 0 && id < vocab_size()) ? sp_.IdToPiece(id) : std::string();
  }

 private:
  std::optional<int32_t> resolve(const std::optional<AddedToken>& token, int model_id) const {
    if (token) {
      const int id = sp_.PieceToId(token->content);
      // PieceToId answers the unknown id for strings that are not pieces.
      if (id >= 0 && (sp_.IdToPiece(id) == token->content)) return id;
      return std::nullopt;
    }
    return model_id >= 0 ? std::optional<int32_t>(model_id) : std::nullopt;
  }

  sentencepiece::SentencePieceProcessor sp_;
  std::optional<int32_t> bos_id_, eos_id_;
  bool add_bos_ = false, add_eos_ = false;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_model(const std::string& dir) {
  return std::make_unique<SentencePieceTokenizer>(dir);
}

#endif

}  // namespace shardlm
