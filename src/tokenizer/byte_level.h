// GPT-2's reversible byte <-> printable-character map used by byte-level BPE: bytes that are printable
// Latin-1 map to themselves, the other 68 bytes map to U+0100.. in byte order (so ' ' is 'Ġ', '\n' 'Ċ').
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shardlm::byte_level {

// The UTF-8 encoding of the character that stands for `byte`.
const std::string& char_for_byte(uint8_t byte);

// Maps every byte of `bytes` to its character (the result is valid UTF-8).
std::string encode_bytes(std::string_view bytes);

// The byte a character stands for, or nullopt for a character outside the map.
std::optional<uint8_t> byte_for_char(char32_t cp);

}  // namespace shardlm::byte_level
