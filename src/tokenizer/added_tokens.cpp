// Added-token matching and splitting (see added_tokens.h), following tokenizers' AddedVocabulary:
// leftmost-longest matches, single_word / lstrip / rstrip adjustments, raw tokens first, then
// normalized tokens in each normalized stretch.
#include "tokenizer/added_tokens.h"

#include "core/error.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"

namespace shardlm {
namespace {

// Rust's regex \w (Unicode): alphabetic, marks, decimal numbers, connector punctuation, joiners.
bool is_word_char(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  static const Regex word(R"([\p{L}\p{M}\p{Nd}\p{Nl}\p{Pc}\x{200C}\x{200D}])", "single_word test");
  return !word.find_all(utf8::encode(c)).empty();
}

char32_t last_char(std::string_view s) {
  size_t pos = s.size();
  do {
    --pos;
  } while (pos > 0 && (static_cast<unsigned char>(s[pos]) & 0xC0) == 0x80);
  return utf8::decode_at(s, pos);
}

char32_t first_char(std::string_view s) {
  size_t pos = 0;
  return utf8::decode_at(s, pos);
}

}  // namespace

void AddedVocabulary::Trie::insert(std::string_view key, int32_t token_index) {
  int32_t node = 0;
  for (unsigned char b : key) {
    auto it = nodes[node].children.find(b);
    if (it == nodes[node].children.end()) {
      nodes.emplace_back();
      const auto child = static_cast<int32_t>(nodes.size() - 1);
      nodes[node].children.emplace(b, child);
      node = child;
    } else {
      node = it->second;
    }
  }
  // The first token with a given content wins (later duplicates are the same string).
  if (nodes[node].token_index < 0) nodes[node].token_index = token_index;
}

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer)
    : tokens_(std::move(tokens)) {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& t = tokens_[i];
    index_by_id_[t.id] = i;
    id_by_content_.emplace(t.content, t.id);
    if (t.special) special_contents_.insert(t.content);
    if (t.content.empty()) continue;
    if (t.normalized) {
      const std::string key = normalizer != nullptr ? normalizer->normalize(t.content) : t.content;
      if (!key.empty()) normalized_trie_.insert(key, static_cast<int32_t>(i));
    } else {
      raw_trie_.insert(t.content, static_cast<int32_t>(i));
    }
  }
}

const AddedToken* AddedVocabulary::find(int32_t id) const {
  auto it = index_by_id_.find(id);
  return it == index_by_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<int32_t> AddedVocabulary::find(std::string_view content) const {
  auto it = id_by_content_.find(content);
  if (it == id_by_content_.end()) return std::nullopt;
  return it->second;
}

bool AddedVocabulary::is_special_content(std::string_view content) const {
  return special_contents_.find(content) != special_contents_.end();
}

std::vector<AddedVocabulary::Match> AddedVocabulary::find_matches(std::string_view text, const Trie& trie) const {
  std::vector<Match> matches;
  if (trie.empty()) return matches;
  size_t search_from = 0;
  size_t last_end = 0;  // end of the previous accepted split, for lstrip
  while (search_from < text.size()) {
    // Leftmost start with a match, and the longest match there.
    Match found{0, 0, -1};
    for (size_t start = search_from; start < text.size() && found.token_index < 0; ++start) {
      int32_t node = 0;
      for (size_t pos = start; pos < text.size(); ++pos) {
        auto it = trie.nodes[node].children.find(static_cast<unsigned char>(text[pos]));
        if (it == trie.nodes[node].children.end()) break;
        node = it->second;
        if (trie.nodes[node].token_index >= 0) found = {start, pos + 1, trie.nodes[node].token_index};
      }
    }
    if (found.token_index < 0) break;
    search_from = found.end;
    const AddedToken& token = tokens_[found.token_index];
    if (token.single_word) {
      const bool space_before = found.begin == 0 || !is_word_char(last_char(text.substr(0, found.begin)));
      const bool space_after = found.end == text.size() || !is_word_char(first_char(text.substr(found.end)));
      if (!space_before || !space_after) continue;
    }
    if (token.lstrip) {
      size_t begin = found.begin;
      while (begin > last_end) {
        const char32_t c = last_char(text.substr(0, begin));
        if (!unicode::is_whitespace(c)) break;
        begin -= utf8::encode(c).size();
      }
      found.begin = begin;
    }
    if (token.rstrip) {
      size_t end = found.end;
      while (end < text.size()) {
        size_t next = end;
        if (!unicode::is_whitespace(utf8::decode_at(text, next))) break;
        end = next;
      }
      found.end = end;
      search_from = end;
    }
    matches.push_back(found);
    last_end = found.end;
  }
  return matches;
}

void AddedVocabulary::split_with(const TextSegment& segment, const Trie& trie, std::vector<TextSegment>& out,
                                 const Normalizer* normalize_rest) const {
  auto emit_text = [&](size_t begin, size_t end) {
    if (begin == end) return;  // empty text gives no tokens under any normalizer or pre-tokenizer
    std::string piece = segment.text.substr(begin, end - begin);
    if (normalize_rest != nullptr) piece = normalize_rest->normalize(piece);
    out.push_back({std::move(piece), segment.at_text_start && begin == 0, -1});
  };
  size_t prev = 0;
  for (const Match& m : find_matches(segment.text, trie)) {
    if (prev < m.begin) emit_text(prev, m.begin);
    out.push_back({segment.text.substr(m.begin, m.end - m.begin), segment.at_text_start && m.begin == 0,
                   tokens_[m.token_index].id});
    prev = m.end;
  }
  emit_text(prev, segment.text.size());
}

std::vector<TextSegment> AddedVocabulary::split(std::string_view text, const Normalizer* normalizer) const {
  // Raw tokens are matched in the input; the stretches between them are normalized, then searched for
  // normalized tokens.
  std::vector<TextSegment> first_pass;
  split_with(TextSegment{std::string(text), true, -1}, raw_trie_, first_pass, normalizer);
  if (normalized_trie_.empty()) return first_pass;
  std::vector<TextSegment> out;
  for (TextSegment& segment : first_pass) {
    if (segment.added_id >= 0) {
      out.push_back(std::move(segment));
    } else {
      split_with(segment, normalized_trie_, out, nullptr);
    }
  }
  return out;
}

}  // namespace shardlm
