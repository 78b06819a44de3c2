// SamplingParams: the per-request decoding options of vLLM's offline API (same fields, defaults, normalisation
// and validation rules as vllm.SamplingParams), with validate() raising std::invalid_argument.
//
// The field list lives here once: for_each_field() names every field with its member pointer, and the rank
// digest, the server's leader/follower messages (engine/sampling_params_json.h) and the Python binding all
// walk it. A new field is one member plus one line in for_each_field.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace shardlm {

// vLLM's RequestOutputKind: what a streaming consumer receives while a request runs. CUMULATIVE: every update
// carries the whole output so far; DELTA: only what is new; FINAL_ONLY: nothing until the request finishes.
enum class RequestOutputKind : int { Cumulative = 0, Delta = 1, FinalOnly = 2 };

// A parameter vLLM would reject, with the field's name (Python: shardlm.exceptions.VLLMValidationError with
// .parameter). An std::invalid_argument, so C++ callers catch it as any bad argument.
class ParameterError : public std::invalid_argument {
 public:
  ParameterError(std::string parameter, const std::string& message)
      : std::invalid_argument(message), parameter_(std::move(parameter)) {}
  const std::string& parameter() const { return parameter_; }

 private:
  std::string parameter_;
};

struct SamplingParams {
  int n = 1;
  float presence_penalty = 0.0f, frequency_penalty = 0.0f, repetition_penalty = 1.0f;
  float temperature = 1.0f;  // 0 (below 1e-5) means greedy
  float top_p = 1.0f;
  int top_k = 0;  // 0 or -1: disabled
  float min_p = 0.0f;
  std::optional<int64_t> seed;  // -1 means unset, as in vLLM (normalize() turns it into nullopt)
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  std::vector<std::string> bad_words;  // words whose last token is banned when the output could complete them
  bool include_stop_str_in_output = false;
  bool ignore_eos = false;
  std::optional<int> max_tokens = 16;  // nullopt: up to max_model_len
  int min_tokens = 0;
  std::optional<int> logprobs;  // number of top logprobs to return besides the sampled token; -1: all
  // Per prompt token (from the second): its log-probability given the tokens before it, plus this many top
  // ones; -1: all. Requests asking for it do not read the prefix cache (vLLM's rule), so every position is
  // computed.
  std::optional<int> prompt_logprobs;
  bool detokenize = true;  // false: CompletionOutput::text stays empty, only token ids
  bool skip_special_tokens = true;
  // vLLM passes it to slow tokenizers only; shardlm's tokenizers (tokenizer.json, like vLLM's fast ones) join
  // special tokens without spaces whatever it says. Accepted for vLLM's API.
  bool spaces_between_special_tokens = true;
  RequestOutputKind output_kind = RequestOutputKind::Cumulative;
  std::map<int32_t, float> logit_bias;  // token id -> added to its logit before sampling (empty: none)
  std::optional<std::vector<int32_t>> allowed_token_ids;  // only these may be sampled (nullopt: all)
  // Keep only the last k prompt tokens (-1: the last max_model_len, as vLLM); nullopt: the whole prompt.
  std::optional<int> truncate_prompt_tokens;

  // Every field in vLLM's order (its dataclass's, less the fields shardlm lacks): visit(name,
  // &SamplingParams::field). The one list of fields; Python's constructor takes them in this order.
  template <class Visitor>
  static void for_each_field(Visitor&& visit) {
    visit("n", &SamplingParams::n);
    visit("presence_penalty", &SamplingParams::presence_penalty);
    visit("frequency_penalty", &SamplingParams::frequency_penalty);
    visit("repetition_penalty", &SamplingParams::repetition_penalty);
    visit("temperature", &SamplingParams::temperature);
    visit("top_p", &SamplingParams::top_p);
    visit("top_k", &SamplingParams::top_k);
    visit("min_p", &SamplingParams::min_p);
    visit("seed", &SamplingParams::seed);
    visit("stop", &SamplingParams::stop);
    visit("stop_token_ids", &SamplingParams::stop_token_ids);
    visit("ignore_eos", &SamplingParams::ignore_eos);
    visit("max_tokens", &SamplingParams::max_tokens);
    visit("min_tokens", &SamplingParams::min_tokens);
    visit("logprobs", &SamplingParams::logprobs);
    visit("prompt_logprobs", &SamplingParams::prompt_logprobs);
    visit("detokenize", &SamplingParams::detokenize);
    visit("skip_special_tokens", &SamplingParams::skip_special_tokens);
    visit("spaces_between_special_tokens", &SamplingParams::spaces_between_special_tokens);
    visit("include_stop_str_in_output", &SamplingParams::include_stop_str_in_output);
    visit("output_kind", &SamplingParams::output_kind);
    visit("logit_bias", &SamplingParams::logit_bias);
    visit("allowed_token_ids", &SamplingParams::allowed_token_ids);
    visit("bad_words", &SamplingParams::bad_words);
    visit("truncate_prompt_tokens", &SamplingParams::truncate_prompt_tokens);
  }

  // Below this temperature sampling is greedy (vLLM's _SAMPLING_EPS).
  static constexpr float kGreedyTemperature = 1e-5f;
  // Smaller positive temperatures are raised to it (vLLM's _MAX_TEMP), for numerical safety.
  static constexpr float kMinTemperature = 1e-2f;
  // Largest n accepted (vLLM's default VLLM_MAX_N_SEQUENCES).
  static constexpr int kMaxN = 16384;
  // Most token sequences bad_words may tokenize to (vLLM's default VLLM_MAX_NUM_BAD_WORDS).
  static constexpr int kMaxNumBadWords = 128;

  bool greedy() const { return temperature < kGreedyTemperature; }
  // The seed to use, if any: vLLM treats seed == -1 as no seed.
  std::optional<int64_t> effective_seed() const {
    if (seed && *seed == -1) return std::nullopt;
    return seed;
  }

  // vLLM's SamplingParams.__post_init__ normalisation: seed -1 -> nullopt; a temperature in (0, 0.01) raised
  // to 0.01; duplicates dropped from stop_token_ids and bad_words (first kept); greedy (temperature < 1e-5)
  // resets top_p, top_k and min_p to their neutral values. Returns the warning vLLM logs (the temperature
  // was raised), or "" when there is none. Idempotent. LLM::generate, the engine and the server apply it;
  // the Python SamplingParams applies it when constructed, as vLLM does.
  std::string normalize();

  // Throws ParameterError (an std::invalid_argument, NOT shardlm::Error: the Python layer maps it to
  // VLLMValidationError) whose message names the field, the value and the valid range, worded as vLLM's
  // _verify_args, e.g. "temperature must be non-negative, got -1.0."
  void validate() const;
  // The checks that need the model (vLLM's SamplingParams.verify): logprobs and prompt_logprobs within
  // max_logprobs (-1: the whole vocabulary), stop_token_ids, logit_bias and allowed_token_ids inside
  // [0, vocab_size). Throws ParameterError.
  void verify_for_model(int64_t vocab_size, int max_logprobs) const;
};

}  // namespace shardlm
