// The {"String": s} / {"Regex": r} pattern of Replace normalizers and decoders and of Split
// pre-tokenizers: finds the non-overlapping matches of a literal or a regular expression.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/json_fields.h"
#include "tokenizer/regex.h"

namespace shardlm {

class StringPattern {
 public:
  static StringPattern from_json(const json_fields::Json& pattern, const std::string& where);
  static StringPattern literal(std::string text);

  // Byte ranges of the matches in `text`, left to right. An empty literal matches nothing.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

  // Replaces every match with `content`.
  std::string replace_all(std::string_view text, std::string_view content) const;

 private:
  std::string literal_;
  std::shared_ptr<const Regex> regex_;  // set for regex patterns
};

}  // namespace shardlm
