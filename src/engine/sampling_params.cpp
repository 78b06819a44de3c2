// SamplingParams::normalize / validate / verify_for_model: vLLM's SamplingParams.__post_init__, _verify_args,
// _verify_greedy_sampling and verify() rules and messages, with numbers printed the way Python prints them so
// messages read as vLLM's do.
#include "shardlm/sampling_params.h"

#include <algorithm>
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

[[noreturn]] void reject(const char* parameter, const std::string& msg) { throw ParameterError(parameter, msg); }

template <class T>
void drop_duplicates(std::vector<T>& v) {  // keeps the first of each, as Python's dict.fromkeys
  std::vector<T> out;
  for (const T& x : v)
    if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
  v = std::move(out);
}

// Python's repr of a list of ints: "[1, -2]".
std::string py_list(const std::vector<int64_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

template <class Ids>
std::vector<int64_t> outside_vocab(const Ids& ids, int64_t vocab_size) {
  std::vector<int64_t> bad;
  for (int64_t id : ids)
    if (id < 0 || id >= vocab_size) bad.push_back(id);
  return bad;
}

}  // namespace

std::string SamplingParams::normalize() {
  std::string warning;
  if (temperature > 0.0f && temperature < kMinTemperature) {
    warning = "temperature " + py_float(temperature) + " is less than " + py_float(kMinTemperature) +
              ", which may cause numerical errors nan or inf in tensors. We have maxed it out to " +
              py_float(kMinTemperature) + ".";
    temperature = kMinTemperature;
  }
  if (seed && *seed == -1) seed.reset();
  drop_duplicates(stop_token_ids);
  drop_duplicates(bad_words);
  if (greedy()) {  // the truncations mean nothing for an argmax
    top_p = 1.0f;
    top_k = 0;
    min_p = 0.0f;
  }
  return warning;
}

void SamplingParams::validate() const {
  // Comparisons are written so that NaN fails them, as Python's chained comparisons do.
  if (n < 1) reject("n", "n must be at least 1, got " + std::to_string(n) + ".");
  if (n > kMaxN) reject("n", "n must be at most " + std::to_string(kMaxN) + ", got " + std::to_string(n) + ".");
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f))
    reject("presence_penalty", "presence_penalty must be in [-2, 2], got " + py_float(presence_penalty) + ".");
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f))
    reject("frequency_penalty", "frequency_penalty must be in [-2, 2], got " + py_float(frequency_penalty) + ".");
  if (!std::isfinite(repetition_penalty))
    reject("repetition_penalty", "repetition_penalty must be a finite number, got " + py_float(repetition_penalty) + ".");
  if (repetition_penalty <= 0.0f)
    reject("repetition_penalty", "repetition_penalty must be greater than zero, got " + py_float(repetition_penalty) + ".");
  if (!std::isfinite(temperature))
    reject("temperature", "temperature must be a finite number, got " + py_float(temperature) + ".");
  if (temperature < 0.0f) reject("temperature", "temperature must be non-negative, got " + py_float(temperature) + ".");
  if (temperature > 2.0f) reject("temperature", "temperature must be in [0, 2], got " + py_float(temperature) + ".");
  if (!(top_p > 0.0f && top_p <= 1.0f)) reject("top_p", "top_p must be in (0, 1], got " + py_float(top_p) + ".");
  if (top_k < -1)
    reject("top_k", "top_k must be 0 (disable), or at least 1, got " + std::to_string(top_k) + ".");
  if (!(min_p >= 0.0f && min_p <= 1.0f)) reject("min_p", "min_p must be in [0, 1], got " + py_float(min_p) + ".");
  if (max_tokens && *max_tokens < 1)
    reject("max_tokens", "max_tokens must be at least 1, got " + std::to_string(*max_tokens) + ".");
  if (min_tokens < 0)
    reject("min_tokens", "min_tokens must be greater than or equal to 0, got " + std::to_string(min_tokens) + ".");
  if (max_tokens && min_tokens > *max_tokens)
    reject("min_tokens", "min_tokens must be less than or equal to max_tokens=" + std::to_string(*max_tokens) +
                             ", got " + std::to_string(min_tokens) + ".");
  if (logprobs && *logprobs != -1 && *logprobs < 0)
    reject("logprobs", "logprobs must be non-negative or -1, got " + std::to_string(*logprobs) + ".");
  if (prompt_logprobs && *prompt_logprobs != -1 && *prompt_logprobs < 0)
    reject("prompt_logprobs",
           "prompt_logprobs must be non-negative or -1, got " + std::to_string(*prompt_logprobs) + ".");
  if (truncate_prompt_tokens && (*truncate_prompt_tokens == 0 || *truncate_prompt_tokens < -1))
    reject("truncate_prompt_tokens", "truncate_prompt_tokens must be an integer >= 1 or -1, got " +
                                         std::to_string(*truncate_prompt_tokens));
  for (const std::string& s : stop)
    if (s.empty()) reject("stop", "stop cannot contain an empty string.");
  if (!stop.empty() && !detokenize)
    reject("stop", "stop strings are only supported when detokenize is True. Set detokenize=True to use stop.");
  for (const std::string& w : bad_words)
    if (w.empty()) {
      std::string list = "[";
      for (size_t i = 0; i < bad_words.size(); ++i) list += (i ? ", '" : "'") + bad_words[i] + "'";
      reject("bad_words", "bad_words cannot contain an empty string. Got bad_words=" + list + "]");
    }
  for (const auto& [id, bias] : logit_bias)
    if (!std::isfinite(bias))
      reject("logit_bias", "logit_bias must map token ids to finite numbers, got " + py_float(bias) + " for token " +
                               std::to_string(id));
  if (greedy() && n > 1) reject("n", "n must be 1 when using greedy sampling, got " + std::to_string(n) + ".");
}

void SamplingParams::verify_for_model(int64_t vocab_size, int max_logprobs) const {
  const int64_t max_allowed = max_logprobs == -1 ? vocab_size : max_logprobs;
  const char* hint = " (raise max_logprobs: --max-logprobs on the command line; -1: the whole vocabulary)";
  if (logprobs && *logprobs != 0) {
    const int64_t wanted = *logprobs == -1 ? vocab_size : *logprobs;
    if (wanted > max_allowed)
      reject("logprobs", "Requested sample logprobs of " + std::to_string(wanted) +
                             ", which is greater than max allowed: " + std::to_string(max_allowed) + hint);
  }
  if (prompt_logprobs && *prompt_logprobs != 0) {
    const int64_t wanted = *prompt_logprobs == -1 ? vocab_size : *prompt_logprobs;
    if (wanted > max_allowed)
      reject("prompt_logprobs", "Requested prompt logprobs of " + std::to_string(wanted) +
                                    ", which is greater than max allowed: " + std::to_string(max_allowed) + hint);
  }
  const std::string vocab = std::to_string(vocab_size);
  if (auto bad = outside_vocab(stop_token_ids, vocab_size); !bad.empty())
    reject("stop_token_ids", "token_id(s) " + py_list(bad) +
                                 " in stop_token_ids contain out-of-vocab token ids. Vocabulary size: " + vocab);
  std::vector<int64_t> bias_ids;
  for (const auto& [id, bias] : logit_bias) bias_ids.push_back(id);
  if (auto bad = outside_vocab(bias_ids, vocab_size); !bad.empty())
    reject("logit_bias", "token_id(s) " + py_list(bad) +
                             " in logit_bias contain out-of-vocab token ids. Vocabulary size: " + vocab);
  if (allowed_token_ids) {
    if (allowed_token_ids->empty()) reject("allowed_token_ids", "allowed_token_ids is not None and empty!");
    if (!outside_vocab(*allowed_token_ids, vocab_size).empty())
      reject("allowed_token_ids", "allowed_token_ids contains out-of-vocab token id!");
  }
}

}  // namespace shardlm
