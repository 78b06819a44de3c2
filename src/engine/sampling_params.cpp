// SamplingParams::validate: vLLM's SamplingParams._verify_args (and _verify_greedy_sampling) rules and
// messages, with numbers printed the way Python prints them so messages read as vLLM's do.
#include "shardlm/sampling_params.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace shardlm {
namespace {

// Python's repr(float) of `v`: the shortest digits that round-trip (here: to the float the user set),
// fixed notation with a trailing ".0" for exponents in [-4, 16), else "1e-05"-style scientific.
std::string py_float(float v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // e.g. "-1.25e+00"
  size_t e_pos = sci.find('e');
  int exp10 = std::atoi(sci.c_str() + e_pos + 1);
  std::string sign = sci[0] == '-' ? "-" : "";
  std::string digits;
  for (size_t i = sign.size(); i < e_pos; ++i)
    if (sci[i] != '.') digits += sci[i];
  if (exp10 < -4 || exp10 >= 16) {
    std::string out = sign + digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    std::string exp_digits = std::to_string(std::abs(exp10));
    if (exp_digits.size() < 2) exp_digits = "0" + exp_digits;
    return out + "e" + (exp10 < 0 ? "-" : "+") + exp_digits;
  }
  std::string int_part, frac_part;
  if (exp10 < 0) {
    int_part = "0";
    frac_part = std::string((size_t)(-exp10 - 1), '0') + digits;
  } else if ((size_t)exp10 + 1 >= digits.size()) {
    int_part = digits + std::string((size_t)exp10 + 1 - digits.size(), '0');
  } else {
    int_part = digits.substr(0, (size_t)exp10 + 1);
    frac_part = digits.substr((size_t)exp10 + 1);
  }
  if (frac_part.empty()) frac_part = "0";
  return sign + int_part + "." + frac_part;
}

[[noreturn]] void reject(const std::string& msg) { throw std::invalid_argument(msg); }

}  // namespace

void SamplingParams::validate() const {
  // Comparisons are written so that NaN fails them, as Python's chained comparisons do.
  if (n < 1) reject("n must be at least 1, got " + std::to_string(n) + ".");
  if (n > kMaxN) reject("n must be at most " + std::to_string(kMaxN) + ", got " + std::to_string(n) + ".");
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f))
    reject("presence_penalty must be in [-2, 2], got " + py_float(presence_penalty) + ".");
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f))
    reject("frequency_penalty must be in [-2, 2], got " + py_float(frequency_penalty) + ".");
  if (!std::isfinite(repetition_penalty))
    reject("repetition_penalty must be a finite number, got " + py_float(repetition_penalty) + ".");
  if (repetition_penalty <= 0.0f)
    reject("repetition_penalty must be greater than zero, got " + py_float(repetition_penalty) + ".");
  if (!std::isfinite(temperature))
    reject("temperature must be a finite number, got " + py_float(temperature) + ".");
  if (temperature < 0.0f) reject("temperature must be non-negative, got " + py_float(temperature) + ".");
  if (temperature > 2.0f) reject("temperature must be in [0, 2], got " + py_float(temperature) + ".");
  if (!(top_p > 0.0f && top_p <= 1.0f)) reject("top_p must be in (0, 1], got " + py_float(top_p) + ".");
  if (top_k < -1) reject("top_k must be 0 (disable), or at least 1, got " + std::to_string(top_k) + ".");
  if (!(min_p >= 0.0f && min_p <= 1.0f)) reject("min_p must be in [0, 1], got " + py_float(min_p) + ".");
  if (max_tokens && *max_tokens < 1)
    reject("max_tokens must be at least 1, got " + std::to_string(*max_tokens) + ".");
  if (min_tokens < 0)
    reject("min_tokens must be greater than or equal to 0, got " + std::to_string(min_tokens) + ".");
  if (max_tokens && min_tokens > *max_tokens)
    reject("min_tokens must be less than or equal to max_tokens=" + std::to_string(*max_tokens) + ", got " +
           std::to_string(min_tokens) + ".");
  if (logprobs && *logprobs != -1 && *logprobs < 0)
    reject("logprobs must be non-negative or -1, got " + std::to_string(*logprobs) + ".");
  for (const std::string& s : stop)
    if (s.empty()) reject("stop cannot contain an empty string.");
  if (greedy() && n > 1) reject("n must be 1 when using greedy sampling, got " + std::to_string(n) + ".");
}

}  // namespace shardlm
