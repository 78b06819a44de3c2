// Scheduler: vLLM V1's engine-core scheduling without prefill/decode phases. Each step it gives running
// requests, then waiting ones (in SchedulingPolicy order), a number of new tokens so that num_computed_tokens
// catches up with num_tokens; chunked prefill, prefix-cache hits and preemption all fall out of that one rule.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/kv_cache_manager.h"
#include "engine/request.h"

namespace shardlm {

// Order of the waiting queue and choice of preemption victim (vLLM's scheduling_policy).
//   Fcfs:     waiting in arrival order (a preempted request goes back to the front); the running request
//             admitted last is preempted first.
//   Priority: waiting ordered by (priority, arrival_index), a preempted request re-enters by that key too; the
//             running request with the largest (priority, arrival_index) is preempted first.
enum class SchedulingPolicy { Fcfs, Priority };

struct SchedulerConfig {
  int block_size = 16;                 // tokens per KV block
  int num_blocks = 0;                  // KV blocks in the pool (> 0)
  int max_num_batched_tokens = 8192;   // token budget of one step
  int max_num_seqs = 256;              // running requests at most
  int max_model_len = 0;               // longest sequence (prompt + output) a request may reach (> 0)
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;  // off: a prompt is scheduled whole or not at all
  int long_prefill_token_threshold = 0;  // > 0: at most this many new tokens per request per step
  SchedulingPolicy policy = SchedulingPolicy::Fcfs;

  // Throws Error naming the field. Without chunked prefill every sequence must fit one step's budget
  // (max_num_batched_tokens >= max_model_len), else a preempted long request could never come back.
  void validate() const;
};

struct ScheduledRequest {
  Request* request;        // valid until the request is finished; request->num_computed_tokens is the
                           // first token to compute until update_from_output() advances it
  int64_t request_id;
  int64_t arrival_index;   // with request_id, identifies the request even if it finished mid-step
  int num_new_tokens;      // computes tokens [num_computed_tokens, num_computed_tokens + num_new_tokens)
};

struct SchedulerOutput {
  int64_t step_index = -1;
  std::vector<ScheduledRequest> scheduled;  // running requests in running order, then newly admitted
  std::vector<int64_t> preempted_ids;     // preempted in this step (newest first); their KV is gone
  std::vector<int64_t> finished_ids;      // finished/aborted since the previous schedule()
  int total_num_scheduled_tokens = 0;
};

struct SchedulerStats {
  int64_t num_steps = 0;
  int64_t num_preemptions = 0;
  int64_t prefix_cache_queries_tokens = 0;  // tokens of requests looked up at admission
  int64_t prefix_cache_hits_tokens = 0;     // of those, tokens found in the cache
  int num_total_blocks = 0;
  int num_free_blocks = 0;                  // includes evictable cached blocks
  int num_cached_blocks = 0;                // blocks carrying a prefix hash (free or not)
  double kv_cache_usage = 0.0;              // 1 - free / total
  size_t num_running = 0;
  size_t num_waiting = 0;
};

// Deterministic: every decision is a function of the calls made (request order, token ids, outputs),
// so each tensor-parallel rank running its own Scheduler on the same inputs makes the same schedule.
//
// One step of the engine loop:
//   SchedulerOutput out = sched.schedule();
//   ... runner computes the scheduled tokens (KV of tokens < num_computed_tokens is already in the
//       cache, written in an earlier step), engine samples for requests whose tokens are all computed ...
//   sched.update_from_output(out, sampled);
//   ... engine checks stop conditions -> sched.finish_request(id, FinishedStopped / FinishedLength) ...
// The engine must finish a request by the time num_tokens() exceeds max_model_len.
class Scheduler {
 public:
  explicit Scheduler(SchedulerConfig cfg);  // throws Error on a bad config

  // Takes ownership; assigns arrival_index and resets scheduling state. Throws Error (and keeps
  // nothing) when the request is malformed, its id is live already, or it can never fit: more tokens
  // than max_model_len, or its longest possible KV footprint needs more blocks than the pool has.
  void add_request(std::unique_ptr<Request> req);
  // Throws Error if the previous output has not been passed to update_from_output().
  SchedulerOutput schedule();
  // After the step ran: advances num_computed_tokens by num_new_tokens for every scheduled request
  // still live, registers its newly computed full blocks in the prefix cache, and appends
  // `sampled[request_id]` to output_token_ids of exactly those requests whose num_computed_tokens
  // reached num_tokens (Error if one is missing or extra; ids of requests finished mid-step are ignored).
  void update_from_output(const SchedulerOutput& out, const std::map<int64_t, int32_t>& sampled);
  // Removes the request and frees its blocks; `reason` must be a Finished* status. Returns the request
  // (status = reason) for the engine's final output, or nullptr if no live request has that id.
  std::unique_ptr<Request> finish_request(int64_t request_id, RequestStatus reason);
  // Empties the prefix cache; false (nothing changed) while unfinished requests hold KV blocks.
  bool reset_prefix_cache() { return kv_.reset_prefix_cache(); }

  bool has_unfinished() const { return !requests_.empty(); }
  size_t num_waiting() const { return waiting_.size(); }
  size_t num_running() const { return running_.size(); }
  const Request* find(int64_t request_id) const;
  SchedulerStats stats() const;
  const SchedulerConfig& config() const { return cfg_; }
  const KVCacheManager& kv_cache() const { return kv_; }

  // Checks every invariant (pool consistency, each block's ref_count == number of block tables holding
  // it, block tables sized to num_computed_tokens, hashed blocks holding the tokens their hash names,
  // queue membership and statuses); throws Error naming the first violation.
  void check_invariants() const;

 private:
  int cap_new_tokens(int num_new_tokens, int token_budget) const;
  void schedule_running(SchedulerOutput& out, int& token_budget);
  void schedule_waiting(SchedulerOutput& out, int& token_budget);
  void preempt(Request& req, SchedulerOutput& out);
  size_t victim_index() const;          // the running request to preempt first
  void enqueue_waiting(Request* req, bool preempted);  // where the policy puts it
  Request* live_request(const ScheduledRequest& s) const;
  void check_request_invariants(const Request& req, bool running, std::vector<int>& holders) const;

  SchedulerConfig cfg_;
  KVCacheManager kv_;
  std::map<int64_t, std::unique_ptr<Request>> requests_;  // owner of every live request
  std::vector<Request*> running_;  // admission order; preemption takes the back
  std::deque<Request*> waiting_;   // in policy order (see SchedulingPolicy)
  std::vector<int64_t> finished_since_schedule_;
  int64_t next_arrival_index_ = 0;
  int64_t num_steps_ = 0;
  std::optional<int64_t> pending_step_;  // schedule() output not yet passed to update_from_output()
  int64_t num_preemptions_ = 0;
  int64_t prefix_queries_tokens_ = 0;
  int64_t prefix_hits_tokens_ = 0;
};

}  // namespace shardlm
