// Unicode normalization forms and lowercase mapping over the generated tables (see unicode.h).
#include "tokenizer/unicode.h"

#include <algorithm>
#include <vector>

#include "tokenizer/unicode_tables.h"
#include "tokenizer/utf8.h"

namespace shardlm::unicode {
namespace tables = unicode_tables;
namespace {

// Hangul syllables compose and decompose algorithmically (Unicode ch. 3.12).
constexpr char32_t kHangulSBase = 0xAC00, kHangulLBase = 0x1100, kHangulVBase = 0x1161,
                   kHangulTBase = 0x11A7;
constexpr char32_t kHangulLCount = 19, kHangulVCount = 21, kHangulTCount = 28;
constexpr char32_t kHangulNCount = kHangulVCount * kHangulTCount;
constexpr char32_t kHangulSCount = kHangulLCount * kHangulNCount;

const tables::Decomposition* find_decomposition(char32_t cp) {
  const auto* begin = tables::kDecompositions;
  const auto* end = begin + tables::kNumDecompositions;
  const auto* it = std::lower_bound(begin, end, cp, [](const tables::Decomposition& d, char32_t c) {
    return d.code_point < c;
  });
  return (it != end && it->code_point == cp) ? it : nullptr;
}

void decompose_into(char32_t cp, bool compatibility, std::u32string& out) {
  if (cp >= kHangulSBase && cp < kHangulSBase + kHangulSCount) {
    const char32_t s = cp - kHangulSBase;
    out.push_back(kHangulLBase + s / kHangulNCount);
    out.push_back(kHangulVBase + (s % kHangulNCount) / kHangulTCount);
    if (s % kHangulTCount != 0) out.push_back(kHangulTBase + s % kHangulTCount);
    return;
  }
  const tables::Decomposition* d = find_decomposition(cp);
  if (d == nullptr || (d->is_compatibility && !compatibility)) {
    out.push_back(cp);
    return;
  }
  for (size_t i = 0; i < d->length; ++i)
    decompose_into(tables::kDecompositionChars[d->offset + i], compatibility, out);
}

// Canonical ordering: stable sort of each run of non-starters by combining class.
void reorder(std::u32string& s) {
  size_t i = 0;
  while (i < s.size()) {
    if (combining_class(s[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < s.size() && combining_class(s[j]) != 0) ++j;
    std::stable_sort(s.begin() + i, s.begin() + j,
                     [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
}

bool compose_pair(char32_t first, char32_t second, char32_t& composite) {
  if (first >= kHangulLBase && first < kHangulLBase + kHangulLCount && second >= kHangulVBase &&
      second < kHangulVBase + kHangulVCount) {
    composite = kHangulSBase + ((first - kHangulLBase) * kHangulVCount + (second - kHangulVBase)) * kHangulTCount;
    return true;
  }
  if (first >= kHangulSBase && first < kHangulSBase + kHangulSCount && (first - kHangulSBase) % kHangulTCount == 0 &&
      second > kHangulTBase && second < kHangulTBase + kHangulTCount) {
    composite = first + (second - kHangulTBase);
    return true;
  }
  const auto* begin = tables::kCompositions;
  const auto* end = begin + tables::kNumCompositions;
  const auto* it = std::lower_bound(begin, end, std::make_pair(first, second),
                                    [](const tables::Composition& c, const std::pair<char32_t, char32_t>& key) {
                                      return std::make_pair(c.first, c.second) < key;
                                    });
  if (it != end && it->first == first && it->second == second) {
    composite = it->composite;
    return true;
  }
  return false;
}

// Canonical composition algorithm (Unicode ch. 3.11, D117).
void compose(std::u32string& s) {
  if (s.empty()) return;
  size_t starter = std::u32string::npos;
  unsigned last_class = 0;
  size_t write = 0;
  for (size_t read = 0; read < s.size(); ++read) {
    const char32_t c = s[read];
    const unsigned cls = combining_class(c);
    if (starter != std::u32string::npos) {
      // Blocked when a character between the starter and c has class 0 or >= c's class.
      const bool blocked = write != starter + 1 && (last_class == 0 || last_class >= cls);
      char32_t composite = 0;
      if (!blocked && compose_pair(s[starter], c, composite)) {
        s[starter] = composite;
        continue;
      }
    }
    if (cls == 0) {
      starter = write;
      last_class = 0;
    } else {
      last_class = cls;
    }
    s[write++] = c;
  }
  s.resize(write);
}

}  // namespace

unsigned combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const auto* begin = tables::kCombiningClassRanges;
  const auto* end = begin + tables::kNumCombiningClassRanges;
  const auto* it = std::upper_bound(begin, end, cp, [](char32_t c, const tables::CombiningClassRange& r) {
    return c < r.first;
  });
  if (it == begin) return 0;
  --it;
  return cp <= it->last ? it->combining_class : 0;
}

std::string normalize(std::string_view text, NormalForm form) {
  // ASCII is invariant under every normal form.
  if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
    return std::string(text);
  const bool compatibility = form == NormalForm::NFKC || form == NormalForm::NFKD;
  std::u32string s;
  s.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) decompose_into(utf8::decode_at(text, pos), compatibility, s);
  reorder(s);
  if (form == NormalForm::NFC || form == NormalForm::NFKC) compose(s);
  std::string out;
  out.reserve(text.size());
  for (char32_t c : s) utf8::append(out, c);
  return out;
}

std::string to_lowercase(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const char32_t cp = utf8::decode_at(text, pos);
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + ('a' - 'A') : cp));
      continue;
    }
    const auto* begin = tables::kLowercase;
    const auto* end = begin + tables::kNumLowercase;
    const auto* it = std::lower_bound(begin, end, cp, [](const tables::CaseMapping& m, char32_t c) {
      return m.code_point < c;
    });
    if (it != end && it->code_point == cp) {
      for (size_t i = 0; i < it->length; ++i) utf8::append(out, tables::kLowercaseChars[it->offset + i]);
    } else {
      utf8::append(out, cp);
    }
  }
  return out;
}

bool is_whitespace(char32_t cp) {
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
  }
  return cp >= 0x2000 && cp <= 0x200A;
}

}  // namespace shardlm::unicode
