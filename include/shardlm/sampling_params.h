// SamplingParams: the per-request decoding options of vLLM's offline API (same fields, defaults and
// validation rules as vllm.SamplingParams), with validate() raising std::invalid_argument.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shardlm {

struct SamplingParams {
  int n = 1;
  float presence_penalty = 0.0f, frequency_penalty = 0.0f, repetition_penalty = 1.0f;
  float temperature = 1.0f;  // 0 (below 1e-5) means greedy
  float top_p = 1.0f;
  int top_k = 0;  // 0 or -1: disabled
  float min_p = 0.0f;
  std::optional<int64_t> seed;  // -1 means unset, as in vLLM
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  std::optional<int> max_tokens = 16;  // nullopt: up to max_model_len
  int min_tokens = 0;
  std::optional<int> logprobs;  // number of top logprobs to return besides the sampled token; -1: all
  bool skip_special_tokens = true;
  bool include_stop_str_in_output = false;

  // Below this temperature sampling is greedy (vLLM's _SAMPLING_EPS).
  static constexpr float kGreedyTemperature = 1e-5f;
  // Largest n accepted (vLLM's default VLLM_MAX_N_SEQUENCES).
  static constexpr int kMaxN = 16384;

  bool greedy() const { return temperature < kGreedyTemperature; }
  // The seed to use, if any: vLLM treats seed == -1 as no seed.
  std::optional<int64_t> effective_seed() const {
    if (seed && *seed == -1) return std::nullopt;
    return seed;
  }

  // Throws std::invalid_argument (NOT shardlm::Error: the Python layer maps it to ValueError) whose
  // message names the field, the value and the valid range, worded as vLLM's _verify_args, e.g.
  // "temperature must be non-negative, got -1.0."
  void validate() const;
};

}  // namespace shardlm
