// GPT-2 byte <-> character tables (see byte_level.h).
#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace shardlm::byte_level {
namespace {

bool maps_to_itself(int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

struct Tables {
  std::array<char32_t, 256> char_of_byte{};
  std::array<std::string, 256> utf8_of_byte;
  std::array<int16_t, 0x144> byte_of_char{};  // all mapped characters are below U+0144

  Tables() {
    byte_of_char.fill(-1);
    char32_t next_extra = 0x100;
    for (int b = 0; b < 256; ++b) {
      const char32_t c = maps_to_itself(b) ? char32_t(b) : next_extra++;
      char_of_byte[b] = c;
      utf8_of_byte[b] = utf8::encode(c);
      byte_of_char[c] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const std::string& char_for_byte(uint8_t byte) { return tables().utf8_of_byte[byte]; }

std::string encode_bytes(std::string_view bytes) {
  const Tables& t = tables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += t.utf8_of_byte[static_cast<uint8_t>(c)];
  return out;
}

std::optional<uint8_t> byte_for_char(char32_t cp) {
  const Tables& t = tables();
  if (cp >= t.byte_of_char.size() || t.byte_of_char[cp] < 0) return std::nullopt;
  return static_cast<uint8_t>(t.byte_of_char[cp]);
}

}  // namespace shardlm::byte_level
