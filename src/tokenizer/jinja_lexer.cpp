// The chat template lexer (see jinja_lexer.h), following jinja2's lexer rules.
#include "tokenizer/jinja_lexer.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "tokenizer/jinja_pystr.h"
#include "tokenizer/jinja_value.h"

namespace shardlm::jinja {

Source::Source(std::string_view raw) {
  text_.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\r') {
      text_.push_back('\n');
      if (i + 1 < raw.size() && raw[i + 1] == '\n') ++i;
    } else {
      text_.push_back(raw[i]);
    }
  }
  if (!text_.empty() && text_.back() == '\n') text_.pop_back();  // jinja2 keep_trailing_newline=False
  line_starts_.push_back(0);
  for (size_t i = 0; i < text_.size(); ++i)
    if (text_[i] == '\n') line_starts_.push_back(i + 1);
}

int Source::line(size_t offset) const {
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  return static_cast<int>(it - line_starts_.begin());
}

std::string Source::where(size_t offset) const {
  const int l = line(offset);
  const size_t start = line_starts_[static_cast<size_t>(l - 1)];
  const size_t column =
      pystr::length(std::string_view(text_).substr(start, std::min(offset, text_.size()) - start)) + 1;
  return str_cat("line ", l, ", column ", column);
}

namespace {

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Length of the Python whitespace (\s) code point at s[i], or 0.
size_t space_at(const std::string& s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return pystr::is_space_byte(c) ? 1 : 0;
  size_t n = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
  n = std::min(n, s.size() - i);
  std::vector<char32_t> cps = pystr::decode(std::string_view(s).substr(i, n));
  return cps.size() == 1 && pystr::is_space(cps[0]) ? n : 0;
}

bool all_space(std::string_view s) {
  for (char32_t cp : pystr::decode(s))
    if (!pystr::is_space(cp)) return false;
  return true;
}

class Lexer {
 public:
  explicit Lexer(const Source& source) : src_(source), s_(source.text()) {}

  std::vector<Token> run() {
    while (pos_ < s_.size()) {
      size_t tag = find_tag(pos_);
      if (tag == std::string::npos) {
        push_text(s_.substr(pos_), pos_);
        pos_ = s_.size();
        break;
      }
      const char kind = s_[tag + 1];
      size_t after = tag + 2;
      char sign = 0;
      if (after < s_.size() && (s_[after] == '-' || s_[after] == '+')) sign = s_[after++];
      size_t raw_body = 0;
      const bool raw = kind == '%' && match_raw_begin(tag, raw_body);

      std::string text = s_.substr(pos_, tag - pos_);
      if (sign == '-') {
        text = pystr::strip(text, std::nullopt, false, true);
      } else if (sign != '+' && kind != '{') {  // lstrip_blocks: not for {{ }}
        const size_t nl = text.rfind('\n');
        const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
        if ((l_pos > 0 || line_starting_) && all_space(std::string_view(text).substr(l_pos))) text.resize(l_pos);
      }
      push_text(std::move(text), pos_);

      if (raw) {
        lex_raw(tag, raw_body);
      } else if (kind == '#') {
        lex_comment(tag, after);
      } else {
        push(kind == '{' ? TokenType::VarBegin : TokenType::BlockBegin, tag);
        pos_ = after;
        lex_tag(kind, tag);
      }
    }
    push(TokenType::End, s_.size());
    return std::move(out_);
  }

 private:
  const Source& src_;
  const std::string& s_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<Token> out_;

  [[noreturn]] void error(size_t offset, const std::string& what) const {
    throw TemplateError(str_cat("chat template: ", src_.where(offset), ": ", what));
  }

  void push(TokenType type, size_t offset, std::string text = {}) {
    Token t;
    t.type = type;
    t.offset = offset;
    t.text = std::move(text);
    out_.push_back(std::move(t));
  }

  void push_text(std::string text, size_t offset) {
    if (!text.empty()) push(TokenType::Text, offset, std::move(text));
  }

  size_t find_tag(size_t from) const {
    for (size_t p = s_.find('{', from); p != std::string::npos; p = s_.find('{', p + 1))
      if (p + 1 < s_.size() && (s_[p + 1] == '{' || s_[p + 1] == '%' || s_[p + 1] == '#')) return p;
    return std::string::npos;
  }

  bool starts_with(size_t at, std::string_view what) const { return s_.compare(at, what.size(), what) == 0; }

  size_t skip_space(size_t at) const {
    while (at < s_.size()) {
      const size_t n = space_at(s_, at);
      if (n == 0) break;
      at += n;
    }
    return at;
  }

  // Consumes the end of a block or comment (`close` is "%}" or "#}") at pos_: "+%}" keeps what follows,
  // "-%}" eats all whitespace after it, "%}" eats one newline (trim_blocks). Returns false if none is there.
  bool consume_block_end(std::string_view close) {
    if (starts_with(pos_, "+") && starts_with(pos_ + 1, close)) {
      pos_ += 1 + close.size();
      line_starting_ = false;
      return true;
    }
    if (starts_with(pos_, "-") && starts_with(pos_ + 1, close)) {
      const size_t start = pos_ + 1 + close.size();
      pos_ = skip_space(start);
      line_starting_ = pos_ > start && s_[pos_ - 1] == '\n';
      return true;
    }
    if (starts_with(pos_, close)) {
      pos_ += close.size();
      line_starting_ = pos_ < s_.size() && s_[pos_] == '\n';
      if (line_starting_) ++pos_;
      return true;
    }
    return false;
  }

  // {%[-+]? raw [-]?%} at `tag`; sets `body` to where the raw text starts.
  bool match_raw_begin(size_t tag, size_t& body) const {
    size_t p = tag + 2;
    if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) ++p;
    p = skip_space(p);
    if (!starts_with(p, "raw")) return false;
    p = skip_space(p + 3);
    if (starts_with(p, "-%}")) {
      body = skip_space(p + 3);
      return true;
    }
    if (starts_with(p, "%}")) {
      body = p + 2;
      return true;
    }
    return false;
  }

  void lex_raw(size_t tag, size_t body) {
    // The body runs to the first {%[-+]? endraw [-+]?%}; the text before it is stripped like any text.
    for (size_t p = s_.find("{%", body); p != std::string::npos; p = s_.find("{%", p + 1)) {
      size_t q = p + 2;
      char sign = 0;
      if (q < s_.size() && (s_[q] == '-' || s_[q] == '+')) sign = s_[q++];
      q = skip_space(q);
      if (!starts_with(q, "endraw")) continue;
      q = skip_space(q + 6);
      if (!(starts_with(q, "%}") || starts_with(q, "-%}") || starts_with(q, "+%}"))) continue;
      std::string text = s_.substr(body, p - body);
      if (sign == '-') {
        text = pystr::strip(text, std::nullopt, false, true);
      } else if (sign != '+') {
        const size_t nl = text.rfind('\n');
        const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
        const bool starting = body > 0 && s_[body - 1] == '\n';
        if ((l_pos > 0 || starting) && all_space(std::string_view(text).substr(l_pos))) text.resize(l_pos);
      }
      push_text(std::move(text), body);
      pos_ = q;
      consume_block_end("%}");
      return;
    }
    error(tag, "missing {% endraw %} for this {% raw %}");
  }

  void lex_comment(size_t tag, size_t after) {
    for (size_t p = after; p < s_.size(); ++p) {
      // jinja2 scans for the earliest "+#}", "-#}" or "#}".
      if ((s_[p] == '+' || s_[p] == '-') && starts_with(p + 1, "#}")) {
        pos_ = p;
        consume_block_end("#}");
        return;
      }
      if (starts_with(p, "#}")) {
        pos_ = p;
        consume_block_end("#}");
        return;
      }
    }
    error(tag, "missing end of comment tag '#}'");
  }

  void lex_tag(char kind, size_t tag) {
    std::vector<char> balance;
    const char* name = kind == '{' ? "'}}'" : "'%}'";
    while (true) {
      if (pos_ >= s_.size()) error(tag, str_cat("unexpected end of template: this tag is never closed with ", name));
      if (balance.empty()) {
        const size_t end_at = pos_;
        if (kind == '%' && consume_block_end("%}")) {
          push(TokenType::BlockEnd, end_at);
          return;
        }
        if (kind == '{') {
          if (starts_with(pos_, "-}}")) {
            const size_t start = pos_ + 3;
            pos_ = skip_space(start);
            line_starting_ = pos_ > start && s_[pos_ - 1] == '\n';
            push(TokenType::VarEnd, end_at);
            return;
          }
          if (starts_with(pos_, "}}")) {
            pos_ += 2;
            line_starting_ = false;
            push(TokenType::VarEnd, end_at);
            return;
          }
        }
      }
      const size_t space = skip_space(pos_);
      if (space != pos_) {
        pos_ = space;
        continue;
      }
      const char c = s_[pos_];
      if (is_digit(c)) {
        lex_number();
      } else if (is_name_start(c)) {
        size_t end = pos_;
        while (end < s_.size() && is_name_char(s_[end])) ++end;
        push(TokenType::Name, pos_, s_.substr(pos_, end - pos_));
        pos_ = end;
      } else if (c == '\'' || c == '"') {
        lex_string();
      } else {
        lex_operator(balance);
      }
    }
  }

  // Digits with optional single underscores between them, from `p`; returns the end (== p if none).
  size_t digits(size_t p, bool (*ok)(char)) const {
    if (p >= s_.size() || !ok(s_[p])) return p;
    size_t q = p + 1;
    while (q < s_.size()) {
      if (ok(s_[q])) {
        ++q;
      } else if (s_[q] == '_' && q + 1 < s_.size() && ok(s_[q + 1])) {
        q += 2;
      } else {
        break;
      }
    }
    return q;
  }

  void lex_number() {
    const size_t start = pos_;
    // Float: digits, then a fraction and/or an exponent (jinja2's float_re; not right after a '.').
    if (start == 0 || s_[start - 1] != '.') {
      size_t p = digits(start, is_digit);
      size_t frac_end = p;
      bool has_frac = false;
      if (p < s_.size() && s_[p] == '.') {
        size_t q = digits(p + 1, is_digit);
        if (q > p + 1) {
          has_frac = true;
          frac_end = q;
        }
      }
      size_t exp_end = 0;
      size_t e = frac_end;
      if (e < s_.size() && (s_[e] == 'e' || s_[e] == 'E')) {
        size_t q = e + 1;
        if (q < s_.size() && (s_[q] == '+' || s_[q] == '-')) ++q;
        size_t r = digits(q, is_digit);
        if (r > q) exp_end = r;
      }
      if (has_frac || exp_end) {
        const size_t end = exp_end ? exp_end : frac_end;
        std::string text;
        for (size_t i = start; i < end; ++i)
          if (s_[i] != '_') text.push_back(s_[i]);
        Token t;
        t.type = TokenType::Float;
        t.offset = start;
        t.text = text;
        t.float_value = std::strtod(text.c_str(), nullptr);
        out_.push_back(std::move(t));
        pos_ = end;
        return;
      }
    }
    // Integer: 0b, 0o, 0x prefixes, decimal, or zeros.
    int base = 10;
    size_t p = start, end;
    auto lower = [&](size_t i) { return static_cast<char>(std::tolower(static_cast<unsigned char>(s_[i]))); };
    if (s_[p] == '0' && p + 1 < s_.size() && (lower(p + 1) == 'b' || lower(p + 1) == 'o' || lower(p + 1) == 'x')) {
      const char b = lower(p + 1);
      base = b == 'b' ? 2 : b == 'o' ? 8 : 16;
      size_t q = p + 2;
      auto ok = [&](char ch) {
        const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        return base == 2   ? (l == '0' || l == '1')
               : base == 8 ? (l >= '0' && l <= '7')
                           : (is_digit(l) || (l >= 'a' && l <= 'f'));
      };
      end = q;
      while (end < s_.size() && (ok(s_[end]) || (s_[end] == '_' && end + 1 < s_.size() && ok(s_[end + 1])))) ++end;
      if (end == q) {
        end = p + 1;  // just "0"
        base = 10;
      } else {
        p = q;
      }
    } else if (s_[p] == '0') {
      end = p + 1;
      while (end < s_.size() && (s_[end] == '0' || (s_[end] == '_' && end + 1 < s_.size() && s_[end + 1] == '0')))
        ++end;
    } else {
      end = digits(p, is_digit);
    }
    std::string text;
    for (size_t i = p; i < end; ++i)
      if (s_[i] != '_') text.push_back(s_[i]);
    errno = 0;
    char* stop = nullptr;
    const unsigned long long v = std::strtoull(text.c_str(), &stop, base);
    if (errno == ERANGE || v > static_cast<unsigned long long>(INT64_MAX))
      error(start,
            "integer literal " + s_.substr(start, end - start) + " is too large (chat templates use 64-bit integers)");
    Token t;
    t.type = TokenType::Integer;
    t.offset = start;
    t.text = s_.substr(start, end - start);
    t.int_value = static_cast<int64_t>(v);
    out_.push_back(std::move(t));
    pos_ = end;
  }

  static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  void lex_string() {
    const size_t start = pos_;
    const char quote = s_[pos_];
    size_t p = pos_ + 1;
    std::string out;
    while (true) {
      if (p >= s_.size()) error(start, "unterminated string literal");
      const char c = s_[p];
      if (c == quote) break;
      if (c != '\\') {
        out.push_back(c);
        ++p;
        continue;
      }
      if (p + 1 >= s_.size()) error(start, "unterminated string literal");
      const char e = s_[p + 1];
      p += 2;
      switch (e) {
        case '\n':
          break;  // line continuation
        case '\\':
          out.push_back('\\');
          break;
        case '\'':
          out.push_back('\'');
          break;
        case '"':
          out.push_back('"');
          break;
        case 'a':
          out.push_back('\a');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'v':
          out.push_back('\v');
          break;
        case 'x':
        case 'u':
        case 'U': {
          const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          char32_t cp = 0;
          for (int k = 0; k < n; ++k) {
            const int h = p + k < s_.size() ? hex_value(s_[p + k]) : -1;
            if (h < 0) error(p - 2, str_cat("truncated \\", e, " escape in a string literal"));
            cp = cp * 16 + static_cast<char32_t>(h);
          }
          p += static_cast<size_t>(n);
          if (cp > 0x10FFFF) error(p - 2 - n, "illegal Unicode character in a string literal");
          if (cp >= 0xD800 && cp <= 0xDFFF) error(p - 2 - n, "surrogate code point in a string literal");
          pystr::append_cp(out, cp);
          break;
        }
        case 'N':
          error(p - 2, "\\N{...} escapes are not supported in chat templates");
        default:
          if (e >= '0' && e <= '7') {
            char32_t cp = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && p < s_.size() && s_[p] >= '0' && s_[p] <= '7'; ++k) cp = cp * 8 + (s_[p++] - '0');
            pystr::append_cp(out, cp);
          } else if (static_cast<unsigned char>(e) >= 0x80) {
            // jinja2 backslash-escapes non-ASCII text before decoding escapes, so "\é" reads as "\xe9".
            size_t q = p - 1;
            size_t n = 1;
            while (q + n < s_.size() && (static_cast<unsigned char>(s_[q + n]) & 0xC0) == 0x80) ++n;
            std::vector<char32_t> cps = pystr::decode(std::string_view(s_).substr(q, n));
            out.push_back('\\');
            char buf[16];
            const char32_t cp = cps.empty() ? 0 : cps[0];
            if (cp < 0x100) {
              std::snprintf(buf, sizeof buf, "x%02x", static_cast<unsigned>(cp));
            } else if (cp < 0x10000) {
              std::snprintf(buf, sizeof buf, "u%04x", static_cast<unsigned>(cp));
            } else {
              std::snprintf(buf, sizeof buf, "U%08x", static_cast<unsigned>(cp));
            }
            out += buf;
            p = q + n;
          } else {
            out.push_back('\\');  // unknown escapes stay as they are
            out.push_back(e);
          }
      }
    }
    Token t;
    t.type = TokenType::String;
    t.offset = start;
    t.text = std::move(out);
    out_.push_back(std::move(t));
    pos_ = p + 1;
  }

  void lex_operator(std::vector<char>& balance) {
    static const char* const kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : kTwo) {
      if (starts_with(pos_, op)) {
        push(TokenType::Operator, pos_, op);
        pos_ += 2;
        return;
      }
    }
    const char c = s_[pos_];
    static const std::string_view kOne = "+-/*%~[](){}><=.:|,;";
    if (kOne.find(c) == std::string_view::npos) {
      if (static_cast<unsigned char>(c) >= 0x80) error(pos_, "unexpected non-ASCII character inside a tag");
      error(pos_, str_cat("unexpected character '", c, "'"));
    }
    if (c == '(' || c == '[' || c == '{') {
      if (balance.size() >= 256) error(pos_, "brackets nest deeper than 256 levels");
      balance.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (balance.empty()) error(pos_, str_cat("unexpected '", c, "'"));
      if (balance.back() != c) error(pos_, str_cat("unexpected '", c, "', expected '", balance.back(), "'"));
      balance.pop_back();
    }
    push(TokenType::Operator, pos_, std::string(1, c));
    ++pos_;
  }
};

}  // namespace

std::vector<Token> tokenize(const Source& source) { return Lexer(source).run(); }

}  // namespace shardlm::jinja
