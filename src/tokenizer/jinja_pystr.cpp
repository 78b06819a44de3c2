// Python str semantics on UTF-8 (see jinja_pystr.h).
#include "tokenizer/jinja_pystr.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"

namespace shardlm::jinja::pystr {

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0.
size_t sequence_length(std::string_view s, size_t i, char32_t& cp) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  size_t n;
  char32_t v, min;
  if ((c & 0xE0) == 0xC0) {
    n = 2, v = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, v = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, v = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const unsigned char d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) return 0;
    v = (v << 6) | (d & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  cp = v;
  return n;
}

template <typename Fn>
void for_each_cp(std::string_view s, Fn fn) {
  for (size_t i = 0; i < s.size();) {
    char32_t cp;
    size_t n = sequence_length(s, i, cp);
    if (n == 0) {
      cp = 0xDC00 + static_cast<unsigned char>(s[i]);  // an undecodable byte, kept as Python's surrogateescape
      n = 1;
    }
    fn(cp, i, n);
    i += n;
  }
}

char32_t upper_cp(char32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c < 0x80) return c;
  if ((c >= 0xE0 && c <= 0xFE && c != 0xF7)) return c - 32;
  if (c == 0xFF) return 0x178;
  if (c == 0xB5) return 0x39C;
  if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
    // Latin Extended-A pairs: even upper / odd lower, except 0x139-0x148 and 0x179-0x17E (odd upper).
    const bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (odd_upper ? (c % 2 == 0) : (c % 2 == 1)) return c - 1;
    return c;
  }
  if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
  if (c == 0x3C2) return 0x3A3;
  if (c >= 0x3AC && c <= 0x3AF) return c == 0x3AC ? 0x386 : c - 37;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  return c;
}

char32_t lower_cp(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0x80) return c;
  std::string one;
  append_cp(one, c);
  std::string low = unicode::to_lowercase(one);
  std::vector<char32_t> cps = decode(low);
  return cps.size() == 1 ? cps[0] : c;
}

bool is_cased(char32_t c) { return upper_cp(c) != c || lower_cp(c) != c || c == 0xDF; }

}  // namespace

std::vector<char32_t> decode(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for_each_cp(s, [&](char32_t cp, size_t, size_t) { out.push_back(cp); });
  return out;
}

void append_cp(std::string& out, char32_t cp) {
  // A byte of invalid UTF-8 carried as a lone surrogate (Python's surrogateescape) goes back out as that byte.
  if (cp >= 0xDC80 && cp <= 0xDCFF) {
    out.push_back(static_cast<char>(cp - 0xDC00));
    return;
  }
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) fail("chat template: a string holds U+", (uint32_t)cp, ", not a character");
  utf8::append(out, cp);
}

std::string encode(const std::vector<char32_t>& cps, size_t begin, size_t end) {
  std::string out;
  end = std::min(end, cps.size());
  for (size_t i = begin; i < end; ++i) append_cp(out, cps[i]);
  return out;
}

bool is_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

size_t length(std::string_view s) {
  if (is_ascii(s)) return s.size();
  size_t n = 0;
  for_each_cp(s, [&](char32_t, size_t, size_t) { ++n; });
  return n;
}

bool is_space(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right) {
  std::vector<char32_t> set;
  if (chars) set = decode(*chars);
  auto strippable = [&](char32_t cp) {
    return chars ? std::find(set.begin(), set.end(), cp) != set.end() : is_space(cp);
  };
  bool seen = false;
  size_t first_kept = 0, last_kept_end = 0;  // byte offsets
  for_each_cp(s, [&](char32_t cp, size_t at, size_t n) {
    if (strippable(cp)) return;
    if (!seen) first_kept = at;
    seen = true;
    last_kept_end = at + n;
  });
  if (!left && !right) return std::string(s);
  if (!seen) return std::string();
  const size_t begin = left ? first_kept : 0;
  const size_t end = right ? last_kept_end : s.size();
  return std::string(s.substr(begin, end - begin));
}

std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit,
                               bool from_right) {
  std::vector<std::string> out;
  if (sep) {
    const std::string& d = *sep;
    if (!from_right) {
      size_t start = 0;
      while (maxsplit != 0) {
        size_t at = s.find(d, start);
        if (at == std::string_view::npos) break;
        out.emplace_back(s.substr(start, at - start));
        start = at + d.size();
        if (maxsplit > 0) --maxsplit;
      }
      out.emplace_back(s.substr(start));
    } else {
      size_t end = s.size();
      while (maxsplit != 0 && end >= d.size()) {
        size_t at = s.rfind(d, end - d.size());
        if (at == std::string_view::npos) break;
        out.emplace_back(s.substr(at + d.size(), end - at - d.size()));
        end = at;
        if (maxsplit > 0) --maxsplit;
      }
      out.emplace_back(s.substr(0, end));
      std::reverse(out.begin(), out.end());
    }
    return out;
  }
  // Whitespace runs: collect words with their byte ranges.
  std::vector<std::pair<size_t, size_t>> words;  // [begin, end)
  size_t word_begin = 0;
  bool in_word = false;
  for_each_cp(s, [&](char32_t cp, size_t at, size_t) {
    if (is_space(cp)) {
      if (in_word) words.emplace_back(word_begin, at);
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      word_begin = at;
    }
  });
  if (in_word) words.emplace_back(word_begin, s.size());
  if (maxsplit < 0 || static_cast<uint64_t>(maxsplit) >= words.size()) {
    for (auto [b, e] : words) out.emplace_back(s.substr(b, e - b));
    return out;
  }
  const size_t k = static_cast<size_t>(maxsplit);
  if (!from_right) {
    for (size_t i = 0; i < k; ++i) out.emplace_back(s.substr(words[i].first, words[i].second - words[i].first));
    out.emplace_back(s.substr(words[k].first));  // the rest keeps its trailing whitespace
  } else {
    const size_t first = words.size() - k;
    out.emplace_back(s.substr(0, words[first - 1].second));  // the rest keeps its leading whitespace
    for (size_t i = first; i < words.size(); ++i)
      out.emplace_back(s.substr(words[i].first, words[i].second - words[i].first));
  }
  return out;
}

std::vector<std::string> splitlines(std::string_view s, bool keepends) {
  std::vector<std::string> out;
  std::vector<char32_t> cps = decode(s);
  size_t start = 0;
  for (size_t i = 0; i < cps.size(); ++i) {
    const char32_t c = cps[i];
    const bool br = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
                    c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!br) continue;
    size_t end = i + 1;
    if (c == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n') end = i + 2;
    out.push_back(encode(cps, start, keepends ? end : i));
    start = end;
    i = end - 1;
  }
  if (start < cps.size()) out.push_back(encode(cps, start, cps.size()));
  return out;
}

std::string lower(std::string_view s) {
  if (is_ascii(s)) {
    std::string out(s);
    for (char& c : out)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return out;
  }
  return unicode::to_lowercase(s);
}

std::string upper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for_each_cp(s, [&](char32_t cp, size_t, size_t) {
    if (cp == 0xDF) {
      out += "SS";
    } else {
      append_cp(out, upper_cp(cp));
    }
  });
  return out;
}

std::string title(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool prev_cased = false;
  for_each_cp(s, [&](char32_t cp, size_t, size_t) {
    const char32_t mapped = prev_cased ? lower_cp(cp) : upper_cp(cp);
    append_cp(out, mapped);
    prev_cased = is_cased(cp);
  });
  return out;
}

std::string capitalize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool first = true;
  for_each_cp(s, [&](char32_t cp, size_t, size_t) {
    append_cp(out, first ? upper_cp(cp) : lower_cp(cp));
    first = false;
  });
  return out;
}

bool is_digit(char32_t cp) { return cp >= '0' && cp <= '9'; }

bool is_alpha(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (is_space(c)) return false;
  if (c < 0xC0) return c == 0xAA || c == 0xB5 || c == 0xBA;
  if (c == 0xD7 || c == 0xF7) return false;
  if (c >= 0x2000 && c <= 0x2BFF) return false;  // punctuation, symbols, arrows, math, box drawing
  if (c >= 0x3000 && c <= 0x303F) return false;  // CJK symbols and punctuation
  if (c >= 0xFF00 && c <= 0xFF20) return false;  // fullwidth punctuation and digits
  if (c >= 0xDC80 && c <= 0xDCFF) return false;  // undecodable bytes
  return true;
}

bool is_upper_cp(char32_t cp) { return lower_cp(cp) != cp; }
bool is_lower_cp(char32_t cp) { return upper_cp(cp) != cp || cp == 0xDF; }

namespace {

bool printable(char32_t c) {
  if (c < 0x20 || (c >= 0x7F && c <= 0xA0)) return false;
  if (c == 0xAD) return false;                                    // soft hyphen (Cf)
  if (c == 0x1680 || (c >= 0x2000 && c <= 0x200F)) return false;  // spaces, zero-width, marks
  if (c >= 0x2028 && c <= 0x202F) return false;                   // separators, bidi controls
  if (c >= 0x205F && c <= 0x206F) return false;                   // invisible operators
  if (c == 0x3000 || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB)) return false;
  if (c >= 0xD800 && c <= 0xDFFF) return false;    // surrogates (undecodable bytes)
  if (c >= 0xE000 && c <= 0xF8FF) return false;    // private use
  if (c >= 0xF0000) return false;                  // private use planes
  if (c >= 0xE0000 && c <= 0xE007F) return false;  // tags
  if (c == 0x061C || (c >= 0x0600 && c <= 0x0605) || c == 0x06DD || c == 0x070F || c == 0x180E) return false;
  return true;
}

}  // namespace

void append_repr(std::string& out, std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  static const char* hex = "0123456789abcdef";
  out.push_back(quote);
  for_each_cp(s, [&](char32_t c, size_t at, size_t n) {
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c >= 0xDC80 && c <= 0xDCFF) {
      out += "\\udc";
      out.push_back(hex[(c >> 4) & 0xF]);
      out.push_back(hex[c & 0xF]);
    } else if (!printable(c)) {
      int digits;
      if (c < 0x100) {
        out += "\\x";
        digits = 2;
      } else if (c < 0x10000) {
        out += "\\u";
        digits = 4;
      } else {
        out += "\\U";
        digits = 8;
      }
      for (int d = digits - 1; d >= 0; --d) out.push_back(hex[(c >> (4 * d)) & 0xF]);
    } else {
      out.append(s.substr(at, n));
    }
  });
  out.push_back(quote);
}

int64_t find(std::string_view s, std::string_view sub, bool from_right) {
  const size_t at = from_right ? s.rfind(sub) : s.find(sub);
  if (at == std::string_view::npos) return -1;
  return static_cast<int64_t>(length(s.substr(0, at)));
}

}  // namespace shardlm::jinja::pystr
