// Request: one sequence as the scheduler sees it -- its tokens, how many of them have KV in the cache
// (num_computed_tokens), its block table and the prefix-cache hashes of its full blocks.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/prefix_hash.h"

namespace shardlm {

struct SequenceState;

enum class RequestStatus { Waiting, Running, Preempted, FinishedStopped, FinishedLength, FinishedAborted };

const char* request_status_name(RequestStatus s);
bool is_finished(RequestStatus s);

// Token i (prompt first, then outputs) has its KV at slot
//   block_ids[i / block_size] * block_size + i % block_size
// e.g. block_size 4, block_ids {7, 2}:  tokens 0..3 -> slots 28..31,  tokens 4..7 -> slots 8..11.
//
// Life of the counters: num_computed_tokens <= num_tokens(). A step computes tokens
// [num_computed_tokens, num_computed_tokens + num_new_tokens); when num_computed_tokens reaches
// num_tokens() the engine samples one token, appended to output_token_ids, so a decoding request always
// has exactly one token (its last sample) left to compute.
struct Request {
  // Assigned by LLMEngine (a sequence of a user request; n > 1 gives several), unique among live requests.
  int64_t request_id = -1;
  SequenceState* sequence = nullptr;  // the output processor's side of this sequence (null in scheduler tests)
  int64_t arrival_index = 0;  // assigned by Scheduler::add_request (0, 1, 2, ...); order of admission
  std::vector<int32_t> prompt_token_ids;
  std::vector<int32_t> output_token_ids;
  int priority = 0;  // under the priority policy: lower is scheduled first, higher is preempted first
  int max_tokens = 1;  // output tokens wanted; the engine enforces it (the scheduler sizes by it)
  int num_computed_tokens = 0;
  int num_cached_tokens = 0;  // prefix-cache hit (tokens) at the first schedule, for stats
  int num_preemptions = 0;
  // Compute every token even when the prefix cache holds some (vLLM's skip_reading_prefix_cache, set for
  // prompt logprobs, which need the logits of every prompt position). Its blocks are still offered to others.
  bool skip_reading_prefix_cache = false;
  RequestStatus status = RequestStatus::Waiting;
  std::vector<int32_t> block_ids;  // the block table; covers at least num_computed_tokens tokens

  // Prefix-cache bookkeeping, owned by KVCacheManager:
  // block_hashes[j] = hash of full block j (tokens [j*block_size, (j+1)*block_size)), filled lazily for
  // blocks whose tokens are all known. Token ids never change, so these survive preemption.
  std::vector<BlockHash> block_hashes;
  // Leading entries of block_ids already offered to the prefix cache (registered or found there).
  int num_registered_blocks = 0;
  bool scheduled_before = false;  // num_cached_tokens is recorded only at the first schedule

  int num_tokens() const { return static_cast<int>(prompt_token_ids.size() + output_token_ids.size()); }
  int num_prompt_tokens() const { return static_cast<int>(prompt_token_ids.size()); }
  int num_output_tokens() const { return static_cast<int>(output_token_ids.size()); }
  int32_t token_at(int i) const;  // prompt then output; throws Error when i is outside [0, num_tokens())
};

}  // namespace shardlm
