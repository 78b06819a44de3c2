// CPU sampler: turns one sequence's raw logits into the next token the way vLLM V1's Sampler does
// (penalties, suppression, temperature, min_p, top_k, top_p, then a seeded draw), plus raw logprobs.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/rng.h"
#include "shardlm/sampling_params.h"

namespace shardlm {

struct TokenLogprob {
  int32_t token;
  float logprob;
};

struct SampleResult {
  int32_t token;
  float logprob;                  // log-softmax of the RAW logits at `token` (vLLM V1's "raw_logprobs")
  int32_t rank = 0;               // with params.logprobs: how many raw logits are >= token's (vLLM's rank,
                                  // 1 = most probable); 0 when logprobs is unset
  std::vector<TokenLogprob> top;  // top `params.logprobs` raw logprobs (all for -1), descending, ties: lower
                                  // id first; empty when logprobs is unset or 0
};

// Positive temperatures below this act as it (vLLM's _MAX_TEMP), as sample_token applies them.
constexpr float kMinSamplingTemperature = 1e-2f;

// Samples one token for one sequence. `logits` are the raw model logits [vocab_size]; they are not
// modified (the work happens in `scratch`, resized as needed). Order as vLLM V1: allowed_token_ids (the
// others to -inf), logit_bias added, penalties (repetition over prompt+output, frequency and presence over
// output), `suppressed_ids` set to -inf (bad words' last tokens; EOS/stop ids while below min_tokens; ids
// outside the vocabulary are ignored), temperature, min_p, top_k, top_p, then one rng.uniform() draw. Greedy (temperature < 1e-5): argmax, lowest id on ties, rng not advanced.
// Deterministic: same inputs and rng state give the same token. Temperatures in [1e-5, 1e-2) act as 1e-2,
// as vLLM clamps them. `params` is assumed valid (SamplingParams::validate).
// Throws shardlm::Error when the logits hold NaN or +inf, when no token is left to sample, or when a
// prompt/output id lies outside [0, vocab_size).
SampleResult sample_token(const float* logits, int32_t vocab_size, const SamplingParams& params,
                          const std::vector<int32_t>& prompt_ids, const std::vector<int32_t>& output_ids,
                          const std::vector<int32_t>& suppressed_ids, Rng& rng, std::vector<float>& scratch);

// One position's log-probabilities from raw logits [vocab_size]: `token`'s logprob and rank (how many logits
// are >= its own, vLLM's rank) and the top `num_top` (-1: all; descending, ties: lower id first). Used for
// prompt logprobs, where `token` is the prompt's next token. Throws as sample_token for NaN/+inf logits.
struct PositionLogprobs {
  float logprob = 0.0f;
  int32_t rank = 0;
  std::vector<TokenLogprob> top;
};
PositionLogprobs position_logprobs(const float* logits, int32_t vocab_size, int32_t token, int num_top,
                                   const SamplingParams& params);

// Why a row's logits cannot be sampled (the errors sample_token throws after its id checks). Every sampler
// (this one, the GPU one) reports them through fail_sampling, so the messages are the same everywhere.
enum class SampleFailure : int32_t {
  NanLogit,            // a raw logit is NaN: `token` is the lowest such id
  InfiniteLogit,       // a raw logit is +inf: `token` is the lowest such id (lowest NaN-or-+inf id overall)
  AllLogitsNegInf,     // every raw logit is -inf
  AllSuppressed,       // every penalised, suppressed logit is -inf
  PenalisedNotFinite,  // the largest penalised logit (`token`, `value`) is +inf
};
[[noreturn]] void fail_sampling(SampleFailure why, int32_t token, float value, int32_t vocab_size,
                                const SamplingParams& params);

}  // namespace shardlm
