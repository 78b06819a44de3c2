// The BPE model: encodes one pre-tokenized piece by splitting it into characters (or byte-fallback
// tokens <0xXX>, or the unknown token) and applying merges lowest rank first, leftmost first, as
// Hugging Face tokenizers' BPE does. Results are cached per piece.
#pragma once
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/string_hash.h"

namespace shardlm {

using TokenIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct BpeOptions {
  std::optional<std::string> unk_token;
  bool fuse_unk = false;
  bool byte_fallback = false;
  // Take a piece that is itself a vocabulary entry as one token without merging (Llama 3).
  bool ignore_merges = false;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
};

class BpeModel {
 public:
  // `merges` in rank order. Error (naming `source`) when a merge names a token, or produces a token,
  // that is not in `vocab`, when the unknown token is not in `vocab`, or when an id is negative or not
  // below token_id_limit(vocab.size()) (token_ids.h).
  BpeModel(TokenIdMap vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
           const std::string& source);

  // Appends the ids of `piece` (valid UTF-8) to `out`.
  void encode(std::string_view piece, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  // nullptr when no vocabulary entry has this id.
  const std::string* id_to_token(int32_t id) const;
  int32_t max_id() const { return static_cast<int32_t>(id_to_token_.size()) - 1; }
  // Vocabulary entries (distinct token strings).
  size_t num_tokens() const { return vocab_.size(); }

 private:
  struct MergeResult {
    uint32_t rank;
    int32_t new_id;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  }
  // Initial symbols of a piece, before merging: (token id, byte length in the piece).
  std::vector<std::pair<int32_t, size_t>> initial_symbols(std::string_view piece) const;
  std::vector<int32_t> merge(std::vector<std::pair<int32_t, size_t>> symbols) const;

  TokenIdMap vocab_;
  std::vector<const std::string*> id_to_token_;  // points into vocab_ keys; nullptr for unused ids
  std::unordered_map<uint64_t, MergeResult> merges_;
  BpeOptions options_;
  std::optional<int32_t> unk_id_;

  static constexpr size_t kMaxCachedPieceBytes = 256;
  static constexpr size_t kMaxCacheEntries = 10000;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace shardlm
