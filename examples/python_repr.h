// Python's repr() of a str, for the examples that print {text!r} as vLLM's originals do: single quotes unless
// the text has ' and no ", escapes \\ \n \r \t and other control characters; UTF-8 above ASCII is kept as is.
// (The examples use only shardlm's public headers, so they carry this small helper themselves.)
#pragma once
#include <cstdio>
#include <string>

inline std::string python_repr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos, has_double = s.find('"') != std::string::npos;
  const char q = has_single && !has_double ? '"' : '\'';
  std::string out(1, q);
  for (const char ch : s) {
    const unsigned char c = (unsigned char)ch;
    if (c == '\\') out += "\\\\";
    else if (c == (unsigned char)q) out += std::string("\\") + q;
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(ch);
    }
  }
  out.push_back(q);
  return out;
}
