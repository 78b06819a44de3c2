// UTF-8 encoding, strict validation and lossy conversion (see utf8.h).
#include "tokenizer/utf8.h"

#include <cstdint>

#include "core/error.h"

namespace shardlm::utf8 {
namespace {

// Returns the total sequence length announced by lead byte `lead` and the valid range of the second
// byte (the ranges of the Unicode "well-formed UTF-8" table), or 0 for a byte that cannot start one.
struct LeadInfo {
  size_t length;
  unsigned char second_min;
  unsigned char second_max;
};

LeadInfo lead_info(unsigned char lead) {
  if (lead < 0x80) return {1, 0, 0};
  if (lead >= 0xC2 && lead <= 0xDF) return {2, 0x80, 0xBF};
  if (lead == 0xE0) return {3, 0xA0, 0xBF};
  if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) return {3, 0x80, 0xBF};
  if (lead == 0xED) return {3, 0x80, 0x9F};
  if (lead == 0xF0) return {4, 0x90, 0xBF};
  if (lead >= 0xF1 && lead <= 0xF3) return {4, 0x80, 0xBF};
  if (lead == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// Number of bytes from `pos` that form a valid prefix of a sequence (at least 1 when the lead byte is
// valid), and the announced length. A complete sequence has prefix == length.
struct Prefix {
  size_t valid_prefix;
  size_t length;
};

Prefix scan(std::string_view bytes, size_t pos) {
  const auto lead = static_cast<unsigned char>(bytes[pos]);
  const LeadInfo info = lead_info(lead);
  if (info.length == 0) return {0, 0};
  size_t n = 1;
  while (n < info.length && pos + n < bytes.size()) {
    const auto b = static_cast<unsigned char>(bytes[pos + n]);
    const bool ok = n == 1 ? (b >= info.second_min && b <= info.second_max) : (b >= 0x80 && b <= 0xBF);
    if (!ok) break;
    ++n;
  }
  return {n, info.length};
}

}  // namespace

void append(std::string& out, char32_t cp) {
  SHARDLM_CHECK(cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF), "not a scalar value: ", uint32_t(cp));
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string encode(char32_t cp) {
  std::string out;
  append(out, cp);
  return out;
}

size_t valid_sequence_length(std::string_view bytes, size_t pos) {
  if (pos >= bytes.size()) return 0;
  const Prefix p = scan(bytes, pos);
  return (p.length != 0 && p.valid_prefix == p.length) ? p.length : 0;
}

size_t first_invalid_offset(std::string_view bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const size_t n = valid_sequence_length(bytes, pos);
    if (n == 0) return pos;
    pos += n;
  }
  return std::string_view::npos;
}

char32_t decode_at(std::string_view text, size_t& pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  if (lead < 0x80) {
    ++pos;
    return lead;
  }
  const size_t n = lead_info(lead).length;
  SHARDLM_CHECK(n >= 2 && pos + n <= text.size(), "invalid UTF-8 at ", pos);
  char32_t cp = lead & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
  for (size_t i = 1; i < n; ++i) cp = (cp << 6) | (static_cast<unsigned char>(text[pos + i]) & 0x3F);
  pos += n;
  return cp;
}

std::vector<char32_t> decode(std::string_view text) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) out.push_back(decode_at(text, pos));
  return out;
}

std::string from_bytes_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    const Prefix p = scan(bytes, pos);
    if (p.length != 0 && p.valid_prefix == p.length) {
      out.append(bytes.substr(pos, p.length));
      pos += p.length;
    } else {
      // A maximal subpart: the valid prefix of a sequence (at least one byte) becomes one U+FFFD.
      out.append(kReplacementChar);
      pos += p.valid_prefix == 0 ? 1 : p.valid_prefix;
    }
  }
  return out;
}

bool ends_with_replacement_char(std::string_view text) {
  return text.size() >= kReplacementChar.size() &&
         text.substr(text.size() - kReplacementChar.size()) == kReplacementChar;
}

}  // namespace shardlm::utf8
