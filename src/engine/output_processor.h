// Per-sequence output state: sampling RNG, incremental detokenization, stop conditions (EOS, stop token
// ids, stop strings, max_tokens, max_model_len) and logprobs, as vLLM's output processor applies them.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "engine/sampler.h"
#include "shardlm/llm.h"
#include "shardlm/outputs.h"
#include "shardlm/sampling_params.h"
#include "tokenizer/tokenizer.h"

namespace shardlm {

struct RequestState;

// One sequence of a request: what the output processor keeps beside the scheduler's Request (which points here
// through Request::sequence while it is live; this outlives it until the whole request is done).
struct SequenceState {
  int64_t sequence_id = -1;         // the scheduler's Request::request_id
  RequestState* request = nullptr;  // the user request it belongs to
  int index = 0;             // CompletionOutput::index
  SamplingParams params;
  Rng rng;
  std::unique_ptr<IncrementalDetokenizer> detok;
  CompletionOutput out;
  int max_tokens = 0;        // resolved against max_model_len
  // params.bad_words as token sequences (tokenize_bad_words): the last token of one is banned whenever the
  // output so far ends with the rest of it.
  std::vector<std::vector<int32_t>> bad_words_ids;
  bool finished = false;
  size_t streamed_tokens = 0, streamed_text = 0;  // what earlier deltas reported (take_delta)

  SequenceState(const Tokenizer& tok, const std::vector<int32_t>& prompt_ids, const SamplingParams& p, uint64_t seed);
};

// One user request (one prompt): the object the engine, the scheduler (Request::sequence->request) and the API
// (RequestOutput / RequestDelta::request_id) all name by its integer id. Its n sequences share the prompt.
struct RequestState {
  int64_t request_id = -1;  // assigned by LLMEngine::add_request, counting up from 0 over the engine's life
  Prompt prompt;
  std::vector<int32_t> prompt_ids;
  std::vector<std::unique_ptr<SequenceState>> seqs;
  int num_finished = 0;
  int num_cached_tokens = 0;  // sequence 0's prefix-cache hit at its first schedule
  // Prompt logprobs (when asked): filled from sequence 0's prefill rows, position by position; entry 0 stays
  // empty. `next_prompt_position` is the next position to fill (a recomputation after preemption skips the
  // ones already filled); `prompt_logprobs_streamed`: the request's deltas carried them.
  std::optional<std::vector<std::map<int32_t, float>>> prompt_logprobs;
  std::vector<int32_t> prompt_token_ranks;
  int next_prompt_position = 1;
  bool prompt_logprobs_streamed = false;
  RequestMetrics metrics;
};

// vLLM's SamplingParams.update_from_tokenizer: each bad word tokenized (no special tokens) as written (leading
// spaces stripped) and again with one leading space; the spaced form is kept only when it starts with a
// different token and has the same length. Throws ParameterError for a word that tokenizes to nothing, for
// more than SamplingParams::kMaxNumBadWords sequences, or for ids outside [0, vocab_size).
std::vector<std::vector<int32_t>> tokenize_bad_words(const std::vector<std::string>& bad_words, const Tokenizer& tok,
                                                     int64_t vocab_size);

// Tokens that must not be sampled next: the last token of each bad word the output could complete now, and
// EOS / stop ids while below min_tokens.
std::vector<int32_t> suppressed_tokens(const SequenceState& seq, const std::vector<int32_t>& eos_ids);

// Appends a sampled token (text, logprobs) and returns the finish reason ("stop", "length") or "" to go on.
std::string append_token(SequenceState& seq, const SampleResult& sample, const std::vector<int32_t>& eos_ids,
                         int total_len, int max_model_len);

// What the sequence gained since its last delta (see RequestDelta). While unfinished, text that may still be
// the start of a stop string (up to the longest stop string less one byte) is held back.
SequenceDelta take_delta(SequenceState& seq);

}  // namespace shardlm
