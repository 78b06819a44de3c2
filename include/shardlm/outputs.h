// What LLM::generate returns, with vLLM's names: one RequestOutput per prompt, one CompletionOutput per
// sample (n > 1 gives several).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace shardlm {

struct CompletionOutput {
  int index = 0;
  std::string text;
  std::vector<int32_t> token_ids;
  double cumulative_logprob = 0.0;
  // When SamplingParams::logprobs is set: one map per generated token, token id -> log-probability, holding
  // the sampled token and the top `logprobs` tokens.
  std::optional<std::vector<std::map<int32_t, float>>> logprobs;
  // With logprobs: per generated token, its rank among all tokens by raw probability (vLLM's: how many tokens
  // are at least as probable, itself included; 1 = the most probable).
  std::vector<int32_t> sampled_token_ranks;
  std::string finish_reason;  // "stop", "length", "abort", "error"; empty while unfinished
  // The stop string or stop token id that ended generation, if any (vLLM's stop_reason).
  std::optional<std::string> stop_reason_str;
  std::optional<int32_t> stop_reason_token;
};

// When a request's stages happened, as vLLM's RequestMetrics / RequestStateStats: times are seconds since the
// epoch (Python's time.time()) read from a monotonic clock anchored at the engine's start, so they never go
// backwards; a stage that never happened (a rejected request is never scheduled) stays 0.
struct RequestMetrics {
  double arrival_time = 0;          // the engine took the request (add_request)
  double first_scheduled_time = 0;  // a step first computed any of its tokens
  double first_token_time = 0;      // its first generated token was sampled
  double last_token_time = 0;       // its latest generated token was sampled
  double finished_time = 0;         // every sequence finished
  double time_in_queue = 0;         // first_scheduled_time - arrival_time
  double first_token_latency = 0;   // first_token_time - arrival_time (time to first token)
  int64_t num_generation_tokens = 0;  // generated tokens over all its sequences
};

struct RequestOutput {
  // The engine's integer id (0, 1, 2, ... over the engine's life, as vLLM's LLM numbers requests); Python's
  // RequestOutput.request_id and the CLI's JSON render it as a string, as vLLM's is.
  int64_t request_id = -1;
  std::string prompt;  // empty when the prompt was given as token ids
  std::vector<int32_t> prompt_token_ids;
  // When SamplingParams::prompt_logprobs is set: one map per prompt token, token id -> log-probability given
  // the tokens before it, holding the prompt token and the top `prompt_logprobs`; the first is empty (vLLM's
  // None: nothing precedes it). prompt_token_ranks: the prompt token's rank at each position (0 for the first).
  std::optional<std::vector<std::map<int32_t, float>>> prompt_logprobs;
  std::vector<int32_t> prompt_token_ranks;
  int num_cached_tokens = 0;  // prompt tokens whose KV came from the prefix cache
  std::vector<CompletionOutput> outputs;
  bool finished = false;
  RequestMetrics metrics;
  // Set when the request could not run at all (prompt longer than max_model_len, larger than the whole KV
  // cache); the other requests of the same generate() call go on.
  std::optional<std::string> error;
};

// What one request gained in one engine step: the streaming view of generation that LLM::generate's
// on_delta hook, the Python module and the server read. Per sequence that produced tokens (or finished): the
// new token ids, text and logprobs. Concatenating a sequence's deltas gives its final CompletionOutput's
// token_ids, text and logprobs exactly; text that could still become part of a stop string, or that ends in
// an incomplete character, is held back until it cannot.
struct SequenceDelta {
  int index = 0;  // CompletionOutput::index
  std::vector<int32_t> token_ids;
  std::string text;
  std::vector<std::map<int32_t, float>> logprobs;  // one per new token when logprobs were requested
  std::vector<int32_t> sampled_token_ranks;        // likewise, CompletionOutput::sampled_token_ranks
  std::string finish_reason;                       // set in the step the sequence finished
};

struct RequestDelta {
  int64_t request_id = -1;  // RequestOutput::request_id
  std::vector<SequenceDelta> sequences;
  // With SamplingParams::prompt_logprobs: in the request's first delta (they are complete by then), as
  // RequestOutput::prompt_logprobs, with the prompt's token ids they belong to.
  std::optional<std::vector<std::map<int32_t, float>>> prompt_logprobs;
  std::vector<int32_t> prompt_token_ids;  // set with prompt_logprobs
  bool finished = false;  // every sequence of the request has finished
};

}  // namespace shardlm
