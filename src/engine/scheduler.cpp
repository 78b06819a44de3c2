// Scheduler: admission checks, the per-step schedule (running first, then waiting in policy order), preemption,
// applying a step's results, finishing, and the invariant check used by the tests.
#include "engine/scheduler.h"

#include <algorithm>
#include <set>

#include "core/error.h"

namespace shardlm {

void SchedulerConfig::validate() const {
  if (block_size <= 0) fail("scheduler config: block_size must be > 0, got ", block_size);
  if (num_blocks <= 0) fail("scheduler config: num_blocks must be > 0, got ", num_blocks);
  if (max_num_batched_tokens <= 0)
    fail("scheduler config: max_num_batched_tokens must be > 0, got ", max_num_batched_tokens);
  if (max_num_seqs <= 0) fail("scheduler config: max_num_seqs must be > 0, got ", max_num_seqs);
  if (max_model_len <= 0) fail("scheduler config: max_model_len must be > 0, got ", max_model_len);
  if (long_prefill_token_threshold < 0)
    fail("scheduler config: long_prefill_token_threshold must be >= 0 (0 = no cap), got ",
         long_prefill_token_threshold);
  if (!enable_chunked_prefill && max_num_batched_tokens < max_model_len)
    fail("scheduler config: with chunked prefill disabled, max_num_batched_tokens (", max_num_batched_tokens,
         ") must be >= max_model_len (", max_model_len, ") so that every sequence fits one step");
  if (!enable_chunked_prefill && long_prefill_token_threshold > 0)
    fail("scheduler config: long_prefill_token_threshold (", long_prefill_token_threshold,
         ") splits prompts, which needs enable_chunked_prefill");
}

namespace {
SchedulerConfig validated(SchedulerConfig cfg) {
  cfg.validate();
  return cfg;
}
}  // namespace

Scheduler::Scheduler(SchedulerConfig cfg)
    : cfg_(validated(cfg)), kv_(cfg_.num_blocks, cfg_.block_size, cfg_.enable_prefix_caching) {}

void Scheduler::add_request(std::unique_ptr<Request> req) {
  if (!req) fail("add_request: request is null");
  const int64_t id = req->request_id;
  if (id < 0) fail("add_request: request_id ", id, " is negative");
  if (requests_.count(id)) fail("add_request: request '", id, "' is already live");
  if (req->prompt_token_ids.empty()) fail("add_request: request '", id, "' has an empty prompt");
  if (req->max_tokens < 1) fail("add_request: request '", id, "' has max_tokens ", req->max_tokens, " (must be >= 1)");
  const int num_tokens = req->num_tokens();
  if (num_tokens > cfg_.max_model_len)
    fail("add_request: request '", id, "' has ", num_tokens, " tokens (prompt ", req->num_prompt_tokens(),
         "), more than max_model_len ", cfg_.max_model_len);
  // Its longest KV footprint: every token but the last sample, capped by max_model_len. If that does
  // not fit the whole pool, the request would preempt itself forever once it is alone.
  const int64_t max_kv_tokens = std::min<int64_t>(
      static_cast<int64_t>(req->num_prompt_tokens()) + req->max_tokens - 1, cfg_.max_model_len);
  const int64_t blocks_needed = (max_kv_tokens + cfg_.block_size - 1) / cfg_.block_size;
  if (blocks_needed > cfg_.num_blocks)
    fail("add_request: request '", id, "' (prompt ", req->num_prompt_tokens(), " tokens, max_tokens ",
         req->max_tokens, ") may need ", blocks_needed, " KV blocks of ", cfg_.block_size,
         " tokens, more than the pool's ", cfg_.num_blocks, " blocks; lower max_tokens or max_model_len");

  req->arrival_index = next_arrival_index_++;
  req->num_computed_tokens = 0;
  req->num_cached_tokens = 0;
  req->num_preemptions = 0;
  req->status = RequestStatus::Waiting;
  req->block_ids.clear();
  req->block_hashes.clear();
  req->num_registered_blocks = 0;
  req->scheduled_before = false;
  Request* raw = req.get();
  requests_.emplace(id, std::move(req));
  enqueue_waiting(raw, false);
}

namespace {
// The priority policy's order: lower priority value first, then earlier arrival.
bool runs_before(const Request* a, const Request* b) {
  return a->priority != b->priority ? a->priority < b->priority : a->arrival_index < b->arrival_index;
}
}  // namespace

void Scheduler::enqueue_waiting(Request* req, bool preempted) {
  switch (cfg_.policy) {
    case SchedulingPolicy::Fcfs:
      if (preempted) waiting_.push_front(req);
      else waiting_.push_back(req);
      return;
    case SchedulingPolicy::Priority:
      waiting_.insert(std::upper_bound(waiting_.begin(), waiting_.end(), req, runs_before), req);
      return;
  }
}

size_t Scheduler::victim_index() const {
  switch (cfg_.policy) {
    case SchedulingPolicy::Fcfs:
      return running_.size() - 1;
    case SchedulingPolicy::Priority:
      return (size_t)(std::max_element(running_.begin(), running_.end(), runs_before) - running_.begin());
  }
  return running_.size() - 1;
}

int Scheduler::cap_new_tokens(int num_new_tokens, int token_budget) const {
  int n = std::min(num_new_tokens, token_budget);
  if (cfg_.long_prefill_token_threshold > 0) n = std::min(n, cfg_.long_prefill_token_threshold);
  return n;
}

SchedulerOutput Scheduler::schedule() {
  if (pending_step_)
    fail("schedule(): step ", *pending_step_, " was scheduled but not passed to update_from_output()");
  // Only update_from_output() grows a request, and only running ones get outputs.
  for (const Request* req : running_)
    if (req->num_tokens() > cfg_.max_model_len)
      fail("schedule(): request '", req->request_id, "' has ", req->num_tokens(), " tokens, more than max_model_len ",
           cfg_.max_model_len, "; the engine must finish it (FinishedLength)");

  SchedulerOutput out;
  out.step_index = num_steps_++;
  out.finished_ids = std::move(finished_since_schedule_);
  finished_since_schedule_.clear();
  kv_.begin_step();
  int token_budget = cfg_.max_num_batched_tokens;
  schedule_running(out, token_budget);
  // As vLLM: a step that had to preempt admits nobody (the pool is under pressure).
  if (out.preempted_ids.empty()) schedule_waiting(out, token_budget);
  out.total_num_scheduled_tokens = cfg_.max_num_batched_tokens - token_budget;
  pending_step_ = out.step_index;
  return out;
}

void Scheduler::schedule_running(SchedulerOutput& out, int& token_budget) {
  size_t index = 0;
  while (index < running_.size() && token_budget > 0) {
    Request* req = running_[index];
    const int num_new = cap_new_tokens(req->num_tokens() - req->num_computed_tokens, token_budget);
    SHARDLM_CHECK(num_new > 0, "running request '", req->request_id, "' has nothing to compute");
    bool preempted_self = false;
    while (!kv_.allocate_slots(*req, num_new)) {
      // Running requests before `index` were scheduled this step. Under FCFS the victim is the back one, never
      // scheduled yet (or req itself); under the priority policy it may have been: its tokens are taken back.
      const size_t v = victim_index();
      Request* victim = running_[v];
      running_.erase(running_.begin() + (std::ptrdiff_t)v);
      if (v < index) {
        auto it = std::find_if(out.scheduled.begin(), out.scheduled.end(),
                               [&](const ScheduledRequest& sr) { return sr.request == victim; });
        SHARDLM_CHECK(it != out.scheduled.end(), "preempted request '", victim->request_id, "' was not scheduled");
        token_budget += it->num_new_tokens;
        out.scheduled.erase(it);
        --index;
      }
      preempt(*victim, out);
      if (victim == req) {
        preempted_self = true;
        break;
      }
    }
    // running_[index] is now the next request (under FCFS there is none: the victim was the back one).
    if (preempted_self) continue;
    out.scheduled.push_back({req, req->request_id, req->arrival_index, num_new});
    token_budget -= num_new;
    ++index;
  }
}

void Scheduler::schedule_waiting(SchedulerOutput& out, int& token_budget) {
  size_t index = 0;
  while (index < waiting_.size() && token_budget > 0 &&
         running_.size() < static_cast<size_t>(cfg_.max_num_seqs)) {
    Request* req = waiting_[index];
    const PrefixCacheHit hit = kv_.find_cached_prefix(*req);
    if (hit.next_block_in_flight) {
      // An identical prefix (say, an n > 1 sibling) is being computed right now: wait a step and hit
      // it instead of computing it twice. It keeps its place; later requests may go ahead.
      ++index;
      continue;
    }
    const int num_uncached = req->num_tokens() - hit.num_tokens;
    if (!cfg_.enable_chunked_prefill && num_uncached > token_budget) break;
    const int num_new = cap_new_tokens(num_uncached, token_budget);
    if (!kv_.allocate_slots(*req, num_new, hit)) break;  // in queue order: nobody behind it jumps the queue

    waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(index));
    req->num_computed_tokens = hit.num_tokens;
    req->status = RequestStatus::Running;
    if (!req->scheduled_before) req->num_cached_tokens = hit.num_tokens;
    req->scheduled_before = true;
    if (cfg_.enable_prefix_caching) {
      prefix_queries_tokens_ += req->num_tokens();
      prefix_hits_tokens_ += hit.num_tokens;
    }
    running_.push_back(req);
    out.scheduled.push_back({req, req->request_id, req->arrival_index, num_new});
    token_budget -= num_new;
  }
}

void Scheduler::preempt(Request& req, SchedulerOutput& out) {
  kv_.free(req);  // its registered full blocks stay findable until evicted
  req.num_computed_tokens = 0;
  req.status = RequestStatus::Preempted;
  ++req.num_preemptions;
  ++num_preemptions_;
  enqueue_waiting(&req, true);
  out.preempted_ids.push_back(req.request_id);
}

Request* Scheduler::live_request(const ScheduledRequest& s) const {
  auto it = requests_.find(s.request_id);
  if (it == requests_.end() || it->second->arrival_index != s.arrival_index) return nullptr;
  return it->second.get();
}

void Scheduler::update_from_output(const SchedulerOutput& out, const std::map<int64_t, int32_t>& sampled) {
  if (!pending_step_ || *pending_step_ != out.step_index)
    fail("update_from_output(): output of step ", out.step_index, " is not the pending step",
         pending_step_ ? "" : " (none pending)");
  // Validate everything before changing anything.
  std::set<int64_t> due;
  for (const ScheduledRequest& s : out.scheduled) {
    const Request* req = live_request(s);
    if (!req) continue;
    const bool reaches_end = req->num_computed_tokens + s.num_new_tokens == req->num_tokens();
    if (reaches_end) due.insert(s.request_id);
    if (reaches_end && !sampled.count(s.request_id))
      fail("update_from_output(): request '", s.request_id, "' computed all its tokens but has no sampled token");
  }
  for (const auto& [id, token] : sampled)
    if (!due.count(id) && requests_.count(id))
      fail("update_from_output(): sampled token for request '", id,
           "', which did not reach its last token this step (partial prefill or not scheduled)");

  for (const ScheduledRequest& s : out.scheduled) {
    Request* req = live_request(s);
    if (!req) continue;  // finished while the step ran
    req->num_computed_tokens += s.num_new_tokens;
    kv_.register_computed_blocks(*req);
    if (due.count(s.request_id)) req->output_token_ids.push_back(sampled.at(s.request_id));
  }
  pending_step_.reset();
}

std::unique_ptr<Request> Scheduler::finish_request(int64_t request_id, RequestStatus reason) {
  if (!is_finished(reason))
    fail("finish_request('", request_id, "'): reason must be a finished status, got ", request_status_name(reason));
  auto it = requests_.find(request_id);
  if (it == requests_.end()) return nullptr;
  Request* req = it->second.get();
  if (auto r = std::find(running_.begin(), running_.end(), req); r != running_.end()) running_.erase(r);
  if (auto w = std::find(waiting_.begin(), waiting_.end(), req); w != waiting_.end()) waiting_.erase(w);
  kv_.free(*req);
  req->status = reason;
  std::unique_ptr<Request> owned = std::move(it->second);
  requests_.erase(it);
  finished_since_schedule_.push_back(request_id);
  return owned;
}

const Request* Scheduler::find(int64_t request_id) const {
  auto it = requests_.find(request_id);
  return it == requests_.end() ? nullptr : it->second.get();
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats s;
  s.num_steps = num_steps_;
  s.num_preemptions = num_preemptions_;
  s.prefix_cache_queries_tokens = prefix_queries_tokens_;
  s.prefix_cache_hits_tokens = prefix_hits_tokens_;
  s.num_total_blocks = kv_.pool().num_blocks();
  s.num_free_blocks = kv_.pool().num_free_blocks();
  s.num_cached_blocks = kv_.pool().num_cached_blocks();
  s.kv_cache_usage = kv_.pool().usage();
  s.num_running = running_.size();
  s.num_waiting = waiting_.size();
  return s;
}

void Scheduler::check_request_invariants(const Request& req, bool running, std::vector<int>& holders) const {
  const int64_t id = req.request_id;
  const int bs = cfg_.block_size;
  const BlockPool& pool = kv_.pool();
  auto it = requests_.find(id);
  if (it == requests_.end() || it->second.get() != &req) fail("invariant: queued request '", id, "' is not owned");
  if (req.num_computed_tokens < 0 || req.num_computed_tokens > req.num_tokens())
    fail("invariant: request '", id, "' has num_computed_tokens ", req.num_computed_tokens, " of ", req.num_tokens());
  const int num_blocks = static_cast<int>(req.block_ids.size());
  if (!running) {
    if (req.status != RequestStatus::Waiting && req.status != RequestStatus::Preempted)
      fail("invariant: waiting request '", id, "' has status ", request_status_name(req.status));
    if (num_blocks != 0 || req.num_computed_tokens != 0)
      fail("invariant: waiting request '", id, "' holds ", num_blocks, " blocks / ", req.num_computed_tokens,
           " computed tokens");
    return;
  }
  if (req.status != RequestStatus::Running)
    fail("invariant: running request '", id, "' has status ", request_status_name(req.status));
  const int min_blocks = kv_.blocks_for_tokens(req.num_computed_tokens);
  const int max_blocks = pending_step_ ? kv_.blocks_for_tokens(req.num_tokens()) : min_blocks;
  if (num_blocks < min_blocks || num_blocks > max_blocks)
    fail("invariant: request '", id, "' holds ", num_blocks, " blocks for ", req.num_computed_tokens,
         " computed of ", req.num_tokens(), " tokens (block_size ", bs, ")");
  if (!pending_step_ && req.num_computed_tokens >= req.num_tokens())
    fail("invariant: running request '", id, "' has no token left to compute between steps");
  if (req.num_registered_blocks > num_blocks || req.num_registered_blocks * bs > req.num_computed_tokens ||
      req.num_registered_blocks > static_cast<int>(req.block_hashes.size()))
    fail("invariant: request '", id, "' has ", req.num_registered_blocks, " registered blocks, ", num_blocks,
         " blocks, ", req.num_computed_tokens, " computed tokens");
  std::set<int32_t> seen;
  for (int j = 0; j < num_blocks; ++j) {
    const int32_t b = req.block_ids[j];
    if (b < 0 || b >= pool.num_blocks()) fail("invariant: request '", id, "' holds bad block id ", b);
    if (!seen.insert(b).second) fail("invariant: request '", id, "' holds block ", b, " twice");
    ++holders[b];
    // A hashed block must hold exactly the tokens its hash names: the request's own block hash there.
    if (std::optional<BlockHash> h = pool.hash_of(b)) {
      if (j >= req.num_registered_blocks || !(*h == req.block_hashes[j]))
        fail("invariant: request '", id, "' block ", j, " (id ", b, ") is cached under another prefix's hash");
    }
  }
}

void Scheduler::check_invariants() const {
  const BlockPool& pool = kv_.pool();
  pool.check_invariants();
  if (running_.size() > static_cast<size_t>(cfg_.max_num_seqs))
    fail("invariant: ", running_.size(), " running requests exceed max_num_seqs ", cfg_.max_num_seqs);
  if (running_.size() + waiting_.size() != requests_.size())
    fail("invariant: ", running_.size(), " running + ", waiting_.size(), " waiting != ", requests_.size(), " live");
  std::vector<int> holders(static_cast<size_t>(pool.num_blocks()), 0);
  std::set<int64_t> queued;
  for (const Request* r : running_) {
    if (!queued.insert(r->request_id).second) fail("invariant: request '", r->request_id, "' queued twice");
    check_request_invariants(*r, true, holders);
  }
  for (const Request* r : waiting_) {
    if (!queued.insert(r->request_id).second) fail("invariant: request '", r->request_id, "' queued twice");
    check_request_invariants(*r, false, holders);
  }
  if (cfg_.policy == SchedulingPolicy::Priority)
    for (size_t i = 1; i < waiting_.size(); ++i)
      if (runs_before(waiting_[i], waiting_[i - 1]))
        fail("invariant: waiting request '", waiting_[i]->request_id, "' is queued behind '", waiting_[i - 1]->request_id,
             "' but has a lower (priority, arrival)");
  for (int32_t b = 0; b < pool.num_blocks(); ++b)
    if (pool.ref_count(b) != holders[b])
      fail("invariant: block ", b, " has ref_count ", pool.ref_count(b), " but ", holders[b], " block tables hold it");
}

}  // namespace shardlm
