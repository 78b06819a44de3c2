// UTF-8 helpers for the tokenizers: strict decoding of user text, encoding code points, and the lossy
// conversion of arbitrary bytes that Rust's String::from_utf8_lossy performs (one U+FFFD per maximal
// invalid subpart), which is what Hugging Face tokenizers' decoders produce.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace shardlm::utf8 {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Appends the UTF-8 encoding of code point `cp` (must be a Unicode scalar value).
void append(std::string& out, char32_t cp);
std::string encode(char32_t cp);

// Length of the valid UTF-8 sequence starting at `pos`, or 0 when the bytes there are not one (invalid
// lead byte, bad continuation, overlong, surrogate, beyond U+10FFFF, or cut off by the end).
size_t valid_sequence_length(std::string_view bytes, size_t pos);

// Byte offset of the first invalid sequence, or npos when `bytes` is valid UTF-8.
size_t first_invalid_offset(std::string_view bytes);

// Decodes valid UTF-8 into code points. Precondition: first_invalid_offset(text) == npos.
std::vector<char32_t> decode(std::string_view text);

// Decodes the character at `pos` of valid UTF-8 and advances `pos` past it.
char32_t decode_at(std::string_view text, size_t& pos);

// Converts arbitrary bytes to valid UTF-8, replacing each maximal invalid subpart with U+FFFD.
std::string from_bytes_lossy(std::string_view bytes);

bool ends_with_replacement_char(std::string_view text);

}  // namespace shardlm::utf8
