// Errors: every failure on user input is a shardlm::Error whose message names the file, field or value
// and what was expected. Never abort() on user input.
#pragma once
#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <string>

namespace shardlm {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& os, const T& first, const Rest&... rest) {
  os << first;
  append(os, rest...);
}
}  // namespace detail

// Concatenates its arguments with operator<< into one message.
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  return os.str();
}

// `value` with `digits` digits after the point (messages: "0.300", not "0.29999999999999999").
inline std::string str_fixed(double value, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, value);
  return buf;
}

template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(str_cat(args...));
}

}  // namespace shardlm

// Internal invariant check (programming errors, not user input): throws with file:line.
#define SHARDLM_CHECK(cond, ...)                                                              \
  do {                                                                                        \
    if (!(cond))                                                                              \
      ::shardlm::fail("internal check failed: " #cond " at ", __FILE__, ":", __LINE__, " ", \
                      ##__VA_ARGS__);                                                         \
  } while (0)
