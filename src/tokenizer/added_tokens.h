// Added tokens (special or not): strings matched in the input before the model runs, leftmost-longest,
// which split the text into stretches that are normalized and tokenized separately. Tokens flagged
// `normalized` are matched in the normalized text, the others in the raw text.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tokenizer/string_hash.h"
#include "tokenizer/normalizer.h"

namespace shardlm {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool lstrip = false;       // swallow whitespace on the left
  bool rstrip = false;       // swallow whitespace on the right
  bool single_word = false;  // match only when not inside a word
  bool normalized = true;    // match against the normalized text
};

// A stretch of input: either an added token (added_id >= 0) or normalized text for the pre-tokenizer.
struct TextSegment {
  std::string text;
  bool at_text_start = false;  // begins at offset 0 of the input
  int32_t added_id = -1;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  // `normalizer` (may be null) normalizes the content of tokens flagged `normalized` for matching.
  AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer);

  // Splits `text` around added tokens; every non-token segment is normalized with `normalizer`.
  std::vector<TextSegment> split(std::string_view text, const Normalizer* normalizer) const;

  const AddedToken* find(int32_t id) const;
  std::optional<int32_t> find(std::string_view content) const;
  bool is_special_content(std::string_view content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  // Byte trie over token contents for leftmost-longest search.
  struct Trie {
    struct Node {
      std::unordered_map<unsigned char, int32_t> children;
      int32_t token_index = -1;  // index into tokens_ of the token ending here
    };
    std::vector<Node> nodes{Node{}};
    void insert(std::string_view key, int32_t token_index);
    bool empty() const { return nodes.size() == 1; }
  };
  struct Match {
    size_t begin, end;
    int32_t token_index;
  };
  std::vector<Match> find_matches(std::string_view text, const Trie& trie) const;
  void split_with(const TextSegment& segment, const Trie& trie, std::vector<TextSegment>& out,
                  const Normalizer* normalize_rest) const;

  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> index_by_id_;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> id_by_content_;
  std::unordered_set<std::string, StringHash, std::equal_to<>> special_contents_;
  Trie raw_trie_;         // tokens with normalized == false
  Trie normalized_trie_;  // tokens with normalized == true, keyed by their normalized content
};

}  // namespace shardlm
