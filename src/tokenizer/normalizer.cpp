// The normalizer types of tokenizer.json (see normalizer.h).
#include "tokenizer/normalizer.h"

#include <vector>

#include "core/error.h"
#include "tokenizer/string_pattern.h"
#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"

namespace shardlm {
namespace {

namespace jf = json_fields;

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  std::string normalize(std::string_view text) const override {
    std::string s(text);
    for (const auto& step : steps_) s = step->normalize(s);
    return s;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(unicode::NormalForm form) : form_(form) {}
  std::string normalize(std::string_view text) const override { return unicode::normalize(text, form_); }

 private:
  unicode::NormalForm form_;
};

class LowercaseNormalizer final : public Normalizer {
 public:
  std::string normalize(std::string_view text) const override { return unicode::to_lowercase(text); }
};

// Prepends to non-empty text only (tokenizers cannot attach the new characters to an empty string).
class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string normalize(std::string_view text) const override {
    if (text.empty()) return {};
    return prefix_ + std::string(text);
  }

 private:
  std::string prefix_;
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(StringPattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  std::string normalize(std::string_view text) const override { return pattern_.replace_all(text, content_); }

 private:
  StringPattern pattern_;
  std::string content_;
};

class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  std::string normalize(std::string_view text) const override {
    const std::vector<char32_t> chars = utf8::decode(text);
    size_t begin = 0, end = chars.size();
    if (left_)
      while (begin < end && unicode::is_whitespace(chars[begin])) ++begin;
    if (right_)
      while (end > begin && unicode::is_whitespace(chars[end - 1])) --end;
    std::string out;
    for (size_t i = begin; i < end; ++i) utf8::append(out, chars[i]);
    return out;
  }

 private:
  bool left_, right_;
};

}  // namespace

std::unique_ptr<Normalizer> normalizer_from_json(const jf::Json& config, const std::string& where) {
  const std::string type = jf::type_of(config, where);
  if (type == "Sequence") {
    const jf::Json& list = jf::require_array(config, "normalizers", where);
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (size_t i = 0; i < list.size(); ++i)
      steps.push_back(normalizer_from_json(list[i], jf::child(jf::child(where, "normalizers"), i)));
    return std::make_unique<SequenceNormalizer>(std::move(steps));
  }
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(unicode::NormalForm::NFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(unicode::NormalForm::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(unicode::NormalForm::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(unicode::NormalForm::NFKD);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(jf::require_string(config, "prepend", where));
  if (type == "Replace") {
    return std::make_unique<ReplaceNormalizer>(
        StringPattern::from_json(jf::require(config, "pattern", where), jf::child(where, "pattern")),
        jf::require_string(config, "content", where));
  }
  if (type == "Strip") {
    return std::make_unique<StripNormalizer>(jf::get_bool(config, "strip_left", true, where),
                                             jf::get_bool(config, "strip_right", true, where));
  }
  fail(jf::child(where, "type"), ": normalizer type '", type,
       "' is not supported (supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip)");
}

}  // namespace shardlm
