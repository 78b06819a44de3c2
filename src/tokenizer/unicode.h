// Unicode algorithms the normalizers need: canonical/compatibility (de)composition (NFC, NFD, NFKC,
// NFKD), per-character lowercase mapping, and the White_Space property. Tables: unicode_tables.cpp.
#pragma once
#include <string>
#include <string_view>

namespace shardlm::unicode {

enum class NormalForm { NFC, NFD, NFKC, NFKD };

// `text` must be valid UTF-8; the result is valid UTF-8.
std::string normalize(std::string_view text, NormalForm form);

// Full per-character lowercase mapping (as Rust's char::to_lowercase; no context rules such as the
// final sigma).
std::string to_lowercase(std::string_view text);

// The Unicode White_Space property (what Rust's char::is_whitespace and its regex \s test).
bool is_whitespace(char32_t cp);

unsigned combining_class(char32_t cp);

}  // namespace shardlm::unicode
