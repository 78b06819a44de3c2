// Literal / regex patterns of tokenizer.json components (see string_pattern.h).
#include "tokenizer/string_pattern.h"

#include "core/error.h"
#include "io/json_file.h"

namespace shardlm {

StringPattern StringPattern::from_json(const json_fields::Json& pattern, const std::string& where) {
  if (!pattern.is_object() || pattern.size() != 1)
    fail(where, ": expected {\"String\": ...} or {\"Regex\": ...}, found ", json_excerpt(pattern));
  StringPattern p;
  if (pattern.contains("String")) {
    p.literal_ = json_fields::require_string(pattern, "String", where);
  } else if (pattern.contains("Regex")) {
    const std::string regex = json_fields::require_string(pattern, "Regex", where);
    p.regex_ = std::make_shared<const Regex>(regex, json_fields::child(where, "Regex"));
  } else {
    fail(where, ": expected {\"String\": ...} or {\"Regex\": ...}, found ", json_excerpt(pattern));
  }
  return p;
}

StringPattern StringPattern::literal(std::string text) {
  StringPattern p;
  p.literal_ = std::move(text);
  return p;
}

std::vector<std::pair<size_t, size_t>> StringPattern::find_all(std::string_view text) const {
  if (regex_) return regex_->find_all(text);
  std::vector<std::pair<size_t, size_t>> matches;
  if (literal_.empty()) return matches;
  size_t pos = text.find(literal_);
  while (pos != std::string_view::npos) {
    matches.emplace_back(pos, pos + literal_.size());
    pos = text.find(literal_, pos + literal_.size());
  }
  return matches;
}

std::string StringPattern::replace_all(std::string_view text, std::string_view content) const {
  const auto matches = find_all(text);
  if (matches.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t prev = 0;
  for (const auto& [begin, end] : matches) {
    out.append(text.substr(prev, begin - prev));
    out.append(content);
    prev = end;
  }
  out.append(text.substr(prev));
  return out;
}

}  // namespace shardlm
