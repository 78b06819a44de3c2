// Python's str semantics on UTF-8 text for the chat template renderer: code-point length, indexing and
// slicing, whitespace (str.isspace), strip/split/splitlines, case mapping, and the quoting of repr().
// Text that is not valid UTF-8 is handled byte by byte rather than rejected.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shardlm::jinja::pystr {

// Code points of `s` (bytes of invalid sequences are taken one by one, as U+DC80+byte would be).
std::vector<char32_t> decode(std::string_view s);
std::string encode(const std::vector<char32_t>& cps, size_t begin = 0, size_t end = SIZE_MAX);
void append_cp(std::string& out, char32_t cp);
bool is_ascii(std::string_view s);
size_t length(std::string_view s);  // len(s) in code points

// str.isspace() for one code point.
bool is_space(char32_t cp);
// Python's \s for the lexer: the same set.
inline bool is_space_byte(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

// s.strip(chars) / lstrip / rstrip; `chars` nullopt strips whitespace.
std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right);
// s.split(sep, maxsplit) and s.rsplit(...); sep nullopt splits on whitespace runs. Fails on an empty sep
// (the caller reports it).
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit,
                               bool from_right);
// s.splitlines(keepends).
std::vector<std::string> splitlines(std::string_view s, bool keepends);

std::string lower(std::string_view s);
std::string upper(std::string_view s);  // ASCII and Latin-1 letters; other text is kept
std::string title(std::string_view s);  // str.title()
std::string capitalize(std::string_view s);
bool is_alpha(char32_t cp);
bool is_digit(char32_t cp);
bool is_lower_cp(char32_t cp);
bool is_upper_cp(char32_t cp);

// Python's repr() of a str: quotes chosen as Python does, escapes for \\, the quote, \n \r \t and
// unprintable characters (\xNN, \uNNNN, \UNNNNNNNN).
void append_repr(std::string& out, std::string_view s);

// Offsets: s.find(sub) in code points, or -1.
int64_t find(std::string_view s, std::string_view sub, bool from_right);

}  // namespace shardlm::jinja::pystr
