// read_json_file / parse_json_text: nlohmann parsing with line:column error positions.
#include "io/json_file.h"

#include <algorithm>

#include "core/error.h"
#include "io/mapped_file.h"

namespace shardlm {

namespace {

// nlohmann reports a 1-based byte count; people look for line and column.
std::string position_of(const char* text, size_t size, size_t byte_1based) {
  size_t end = byte_1based == 0 ? 0 : std::min(byte_1based - 1, size);
  size_t line = 1, column = 1;
  for (size_t i = 0; i < end; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return str_cat("line ", line, ", column ", column, " (byte ", end, ")");
}

// nlohmann's message starts with "[json.exception.parse_error.101] parse error at line 1, column 2: ";
// keep only the part after the position, which says what was expected.
std::string reason_of(const std::string& message) {
  size_t colon = message.find(": ");
  return colon == std::string::npos ? message : message.substr(colon + 2);
}

// Fails when arrays/objects nest deeper than kMaxJsonDepth; a linear scan that skips strings.
void check_depth(const char* text, size_t size, const std::string& what) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < size; ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        fail(what, " is not accepted: arrays and objects nest deeper than ", kMaxJsonDepth, " levels at ",
             position_of(text, size, i + 1));
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

}  // namespace

std::string json_excerpt(const nlohmann::json& value, size_t max_chars) {
  std::string s = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() <= max_chars) return s;
  const size_t total = s.size();
  s.resize(max_chars);
  return str_cat(s, "... (", total, " characters)");
}

nlohmann::json parse_json_text(const char* text, size_t size, const std::string& what) {
  check_depth(text, size, what);
  try {
    return nlohmann::json::parse(text, text + size);
  } catch (const nlohmann::json::parse_error& e) {
    fail(what, " is not valid JSON: ", position_of(text, size, e.byte), ": ", reason_of(e.what()));
  } catch (const nlohmann::json::exception& e) {  // a number out of range, say; no position is given
    fail(what, " is not valid JSON: ", reason_of(e.what()));
  }
}

nlohmann::json read_json_file(const std::string& path, const std::string& what) {
  std::string text;
  try {
    text = read_regular_file(path);  // a FIFO or directory is refused here instead of blocking or failing late
  } catch (const Error& e) {
    fail(what, ": ", e.what());
  }
  return parse_json_text(text.data(), text.size(), str_cat(what, ": '", path, "'"));
}

}  // namespace shardlm
