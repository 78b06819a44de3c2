// A compiled Unicode regular expression (PCRE2 with UTF + UCP, JIT-compiled when available), used by
// the Split pre-tokenizer, the GPT-2 byte-level split and Replace normalizers/decoders.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct pcre2_real_code_8;

namespace shardlm {

class Regex {
 public:
  // `what` names the pattern's origin (file and field) for the error thrown when it does not compile.
  Regex(const std::string& pattern, const std::string& what);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Byte ranges [begin, end) of the successive non-overlapping matches in `text` (valid UTF-8), with
  // Oniguruma's find_iter rule for empty matches: one that ends where the previous match ended is
  // skipped and the search resumes one character later.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  pcre2_real_code_8* code_ = nullptr;
};

}  // namespace shardlm
