// Splitting a chat template into jinja2 tokens: template text, the {{ }} and {% %} delimiters and the
// expression tokens between them. Whitespace control is jinja2's as transformers configures it: `-` strips
// all whitespace on its side, trim_blocks drops the newline after a block or comment tag, lstrip_blocks
// drops the indentation before one (`+` turns either off), and one trailing newline of the source is dropped.
// Comments vanish; {% raw %} bodies come out as text.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shardlm::jinja {

enum class TokenType { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Operator, End };

struct Token {
  TokenType type = TokenType::End;
  std::string text;  // Text; Name; String (decoded); Operator ("+", "//", "(", ...)
  int64_t int_value = 0;
  double float_value = 0;
  size_t offset = 0;  // where the token starts in Source::text
};

// The template text with newlines normalized as jinja2 does, and line positions for messages.
class Source {
 public:
  explicit Source(std::string_view raw);
  const std::string& text() const { return text_; }
  int line(size_t offset) const;
  // "line 3, column 7" (columns count characters from 1).
  std::string where(size_t offset) const;

 private:
  std::string text_;
  std::vector<size_t> line_starts_;
};

// Throws shardlm::Error "chat template: line L, column C: <what is wrong>" on malformed input.
std::vector<Token> tokenize(const Source& source);

}  // namespace shardlm::jinja
