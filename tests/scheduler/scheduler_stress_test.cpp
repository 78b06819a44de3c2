// Randomized stress: thousands of requests (shared prefixes, n > 1 siblings, tiny vocabularies so equal
// blocks sit under different prefixes), random max_tokens and aborts (also mid-step), a pool small
// enough to preempt often. A simulated KV cache stores, per slot, a fingerprint of the whole prefix
// ending at that token (computed by the test, independently of the scheduler's hashing); every token a
// step treats as computed must read back the right fingerprint, which checks prefix-cache hits,
// preemption and block reuse end to end. Also: budget/seq limits every step, invariants every step, every
// request finishes with the expected outputs, no leaked blocks, and identical schedules across runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "core/error.h"
#include "sched_test_util.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

// Fingerprint of tokens [0, p] given the fingerprint of [0, p-1] (FNV-1a over the token bytes, a
// different function from the scheduler's block hash on purpose).
uint64_t extend_fingerprint(uint64_t prev, int32_t token) {
  uint64_t h = prev ^ 0xcbf29ce484222325ULL;
  for (int i = 0; i < 4; ++i) {
    h ^= (static_cast<uint32_t>(token) >> (8 * i)) & 0xff;
    h *= 0x100000001b3ULL;
  }
  return h;
}

struct Expected {
  std::vector<int32_t> tokens;         // the test's own copy: prompt, then outputs as sampled
  std::vector<uint64_t> fingerprints;  // fingerprints[p] covers tokens [0, p]
  int num_prompt = 0;
  int max_tokens = 0;
  int group = 0;         // n > 1 siblings share a group, so they sample the same tokens
  bool aborted = false;
  bool finished = false;
  void push(int32_t t) {
    fingerprints.push_back(extend_fingerprint(fingerprints.empty() ? 0 : fingerprints.back(), t));
    tokens.push_back(t);
  }
};

struct StressOptions {
  SchedulerConfig cfg;
  uint64_t seed = 1;
  int num_requests = 3000;
  double abort_probability = 0.02;   // per step
  bool perturb_heap = false;         // allocate junk between requests so addresses differ run to run
};

struct StressResult {
  std::string trace;  // every decision: scheduled ids, token counts, block tables, preemptions
  SchedulerStats stats;
  int num_rejected = 0;
  int num_completed = 0;
  int num_aborted = 0;
};

int32_t fake_sample(int group, int output_index, int vocab) {
  uint64_t x = static_cast<uint64_t>(group) * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(output_index) + 1;
  x ^= x >> 29;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 32;
  return static_cast<int32_t>(x % static_cast<uint64_t>(vocab));
}

StressResult run_stress(const StressOptions& o) {
  const SchedulerConfig& cfg = o.cfg;
  Scheduler sched(cfg);
  std::mt19937_64 rng(o.seed);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  const int vocab = 3;  // tiny: identical blocks under different prefixes are common

  std::vector<std::vector<int32_t>> bases(6);
  for (auto& b : bases) {
    b.resize(static_cast<size_t>(uniform(0, cfg.max_model_len)));
    for (int32_t& t : b) t = uniform(0, vocab - 1);
  }

  std::map<int64_t, Expected> expected;
  std::vector<std::unique_ptr<char[]>> junk;
  std::mt19937 junk_rng(99);  // its own stream: perturbing the heap must not change the workload
  std::uniform_int_distribution<size_t> junk_size(1, 300);
  StressResult res;
  int next_request = 0, next_group = 0;
  int64_t step = 0;
  std::vector<uint64_t> kv(static_cast<size_t>(cfg.num_blocks) * cfg.block_size, 0);
  const int bs = cfg.block_size;

  auto add_group = [&]() {
    const int group = next_group++;
    std::vector<int32_t> prompt(bases[uniform(0, 5)]);
    prompt.resize(static_cast<size_t>(uniform(0, static_cast<int>(prompt.size()))));
    const int tail = uniform(1, 24);
    for (int i = 0; i < tail; ++i) prompt.push_back(uniform(0, vocab - 1));
    int max_tokens = uniform(1, 24);
    if (chance(0.03)) prompt.resize(static_cast<size_t>(cfg.max_model_len + uniform(1, 5)), 1);  // too long
    const int n = chance(0.15) ? uniform(2, 4) : 1;
    for (int k = 0; k < n && next_request < o.num_requests; ++k) {
      const int64_t id = next_request++;
      if (o.perturb_heap) junk.emplace_back(new char[junk_size(junk_rng)]);
      try {
        auto req = std::make_unique<Request>();
        req->request_id = id;
        req->prompt_token_ids = prompt;
        req->max_tokens = max_tokens;
        if (cfg.policy == SchedulingPolicy::Priority) req->priority = uniform(0, 3);
        sched.add_request(std::move(req));
      } catch (const Error&) {
        const int64_t kv_tokens = std::min<int64_t>(static_cast<int64_t>(prompt.size()) + max_tokens - 1, cfg.max_model_len);
        const bool never_fits = static_cast<int>(prompt.size()) > cfg.max_model_len ||
                                (kv_tokens + bs - 1) / bs > cfg.num_blocks;
        EXPECT_TRUE(never_fits) << id << " rejected but fits";
        ++res.num_rejected;
        continue;
      }
      Expected e;
      for (int32_t t : prompt) e.push(t);
      e.num_prompt = static_cast<int>(prompt.size());
      e.max_tokens = max_tokens;
      e.group = group;
      expected.emplace(id, std::move(e));
    }
  };

  auto live_ids = [&]() {
    std::vector<int64_t> ids;
    for (const auto& [id, e] : expected)
      if (!e.finished) ids.push_back(id);
    return ids;  // sorted: std::map order, not pointer or hash order
  };
  auto abort_random = [&]() {
    std::vector<int64_t> ids = live_ids();
    if (ids.empty()) return;
    const int64_t id = ids[static_cast<size_t>(uniform(0, static_cast<int>(ids.size()) - 1))];
    std::unique_ptr<Request> r = sched.finish_request(id, RequestStatus::FinishedAborted);
    EXPECT_TRUE(r) << id;
    Expected& e = expected.at(id);
    if (r) {
      EXPECT_EQ(r->output_token_ids.size() + e.num_prompt, e.tokens.size()) << id;
    }
    e.finished = e.aborted = true;
    ++res.num_aborted;
  };

  while (next_request < o.num_requests || sched.has_unfinished()) {
    if (step > 400000) {
      ADD_FAILURE() << "no progress: livelock?";
      break;
    }
    // Arrivals keep a backlog of waiting requests (pressure) without letting it grow without bound.
    if (sched.num_waiting() < static_cast<size_t>(2 * cfg.max_num_seqs))
      for (int arrivals = uniform(0, 2); arrivals > 0 && next_request < o.num_requests; --arrivals) add_group();
    if (chance(o.abort_probability)) abort_random();

    SchedulerOutput out = sched.schedule();
    ++step;
    EXPECT_LE(out.total_num_scheduled_tokens, cfg.max_num_batched_tokens);
    EXPECT_LE(out.scheduled.size(), static_cast<size_t>(cfg.max_num_seqs));
    res.trace += "S";
    for (int64_t id : out.preempted_ids) res.trace += " P" + std::to_string(id);
    const BlockPool& pool = sched.kv_cache().pool();
    int total = 0;
    std::map<int64_t, int32_t> sampled;
    // Reads first, for the whole step (the strictest runner order): every computed token's KV is there.
    for (const ScheduledRequest& sr : out.scheduled) {
      const Request& r = *sr.request;
      const Expected& e = expected.at(sr.request_id);
      EXPECT_GT(sr.num_new_tokens, 0);
      if (cfg.long_prefill_token_threshold > 0) {
        EXPECT_LE(sr.num_new_tokens, cfg.long_prefill_token_threshold);
      }
      total += sr.num_new_tokens;
      EXPECT_EQ(r.num_tokens(), static_cast<int>(e.tokens.size())) << sr.request_id;
      for (int p = 0; p < r.num_computed_tokens; ++p)
        if (kv[kv_slot_of(r, p, bs)] != e.fingerprints[p]) {
          ADD_FAILURE() << "step " << step << " " << sr.request_id << " token " << p << " reads stale KV";
          break;
        }
      res.trace += " " + std::to_string(sr.request_id) + ":" + std::to_string(r.num_computed_tokens) + "+" +
                   std::to_string(sr.num_new_tokens) + "@";
      for (int32_t b : r.block_ids) res.trace += std::to_string(b) + ",";
    }
    EXPECT_EQ(total, out.total_num_scheduled_tokens);
    // Then writes: into blocks this request alone holds and nobody can find in the cache yet.
    for (const ScheduledRequest& sr : out.scheduled) {
      const Request& r = *sr.request;
      const Expected& e = expected.at(sr.request_id);
      for (int p = r.num_computed_tokens; p < r.num_computed_tokens + sr.num_new_tokens; ++p) {
        const int32_t block = r.block_ids[p / bs];
        EXPECT_EQ(pool.ref_count(block), 1) << sr.request_id << " writes into a shared block";
        EXPECT_FALSE(pool.hash_of(block).has_value()) << sr.request_id << " writes into a cached block";
        kv[kv_slot_of(r, p, bs)] = e.fingerprints[p];
      }
      if (r.num_computed_tokens + sr.num_new_tokens == r.num_tokens())
        sampled[sr.request_id] = fake_sample(e.group, r.num_output_tokens(), vocab);
    }
    if (chance(o.abort_probability / 4)) abort_random();  // mid-step: its results must be dropped
    sched.update_from_output(out, sampled);
    for (const auto& [id, token] : sampled) {
      Expected& e = expected.at(id);
      if (e.finished) continue;
      e.push(token);
      const int num_outputs = static_cast<int>(e.tokens.size()) - e.num_prompt;
      // Engine stop rules: max_tokens, or the sequence reached max_model_len.
      if (num_outputs >= e.max_tokens || static_cast<int>(e.tokens.size()) >= cfg.max_model_len) {
        std::unique_ptr<Request> r = sched.finish_request(id, RequestStatus::FinishedLength);
        EXPECT_TRUE(r);
        if (r) {
          EXPECT_EQ(std::vector<int32_t>(e.tokens.begin() + e.num_prompt, e.tokens.end()), r->output_token_ids) << id;
        }
        e.finished = true;
        ++res.num_completed;
      }
    }
    sched.check_invariants();
    if (::testing::Test::HasFailure()) break;
  }

  for (const auto& [id, e] : expected) {
    EXPECT_TRUE(e.finished) << id;
    if (e.aborted) continue;
    const int num_outputs = static_cast<int>(e.tokens.size()) - e.num_prompt;
    const int want = std::min(e.max_tokens, std::max(1, cfg.max_model_len - e.num_prompt));
    EXPECT_EQ(num_outputs, want) << id;
  }
  res.stats = sched.stats();
  EXPECT_EQ(res.stats.num_free_blocks, cfg.num_blocks) << "leaked blocks";
  EXPECT_EQ(static_cast<int>(sched.kv_cache().pool().free_queue().size()), cfg.num_blocks);
  EXPECT_FALSE(sched.has_unfinished());
  return res;
}

SchedulerConfig tiny_pool() {
  SchedulerConfig c;
  c.block_size = 4;
  c.num_blocks = 20;  // a 64-token sequence needs 16
  c.max_num_batched_tokens = 48;
  c.max_num_seqs = 8;
  c.max_model_len = 64;
  return c;
}

void expect_healthy(const StressResult& r, const StressOptions& o, bool expect_hits) {
  EXPECT_GT(r.stats.num_preemptions, 50) << "the pool should force preemption";
  EXPECT_GT(r.num_rejected, 0);
  EXPECT_GT(r.num_aborted, 0);
  EXPECT_EQ(r.num_completed + r.num_aborted + r.num_rejected, o.num_requests);
  if (expect_hits) {
    EXPECT_GT(r.stats.prefix_cache_hits_tokens, 0);
  }
}

}  // namespace

TEST(SchedulerStress, TinyPoolWithPrefixCaching) {
  StressOptions o;
  o.cfg = tiny_pool();
  o.num_requests = 8000;
  StressResult r = run_stress(o);
  expect_healthy(r, o, true);
  std::cout << "[stress] steps " << r.stats.num_steps << ", preemptions " << r.stats.num_preemptions
            << ", prefix hits " << r.stats.prefix_cache_hits_tokens << "/" << r.stats.prefix_cache_queries_tokens
            << " tokens, rejected " << r.num_rejected << ", aborted " << r.num_aborted << "\n";
}

TEST(SchedulerStress, TinyPoolWithoutPrefixCaching) {
  StressOptions o;
  o.cfg = tiny_pool();
  o.cfg.enable_prefix_caching = false;
  o.seed = 2;
  StressResult r = run_stress(o);
  expect_healthy(r, o, false);
  EXPECT_EQ(r.stats.prefix_cache_hits_tokens, 0);
}

TEST(SchedulerStress, ChunkedPrefillDisabled) {
  StressOptions o;
  o.cfg = tiny_pool();
  o.cfg.enable_chunked_prefill = false;
  o.cfg.max_num_batched_tokens = 64;
  o.seed = 3;
  expect_healthy(run_stress(o), o, true);
}

TEST(SchedulerStress, LongPrefillThresholdAndFewSeqs) {
  StressOptions o;
  o.cfg = tiny_pool();
  o.cfg.long_prefill_token_threshold = 6;
  o.cfg.max_num_seqs = 3;
  o.cfg.num_blocks = 17;
  o.seed = 4;
  expect_healthy(run_stress(o), o, true);
}

TEST(SchedulerStress, LargerBlocksAndBudget) {
  StressOptions o;
  o.cfg.block_size = 16;
  o.cfg.num_blocks = 12;
  o.cfg.max_num_batched_tokens = 100;
  o.cfg.max_num_seqs = 32;
  o.cfg.max_model_len = 64;
  o.seed = 5;
  StressResult r = run_stress(o);
  EXPECT_EQ(r.num_completed + r.num_aborted + r.num_rejected, o.num_requests);
  EXPECT_GT(r.stats.num_preemptions, 0);
}

TEST(SchedulerStress, IdenticalRunsMakeIdenticalSchedules) {
  StressOptions o;
  o.cfg = tiny_pool();
  o.seed = 77;
  o.num_requests = 2000;
  const StressResult first = run_stress(o);
  const StressResult second = run_stress(o);
  o.perturb_heap = true;  // same inputs, different addresses (a rank's heap differs from another's)
  const StressResult third = run_stress(o);
  ASSERT_FALSE(first.trace.empty());
  EXPECT_TRUE(first.trace == second.trace) << "two identical runs diverged";
  EXPECT_TRUE(first.trace == third.trace) << "schedule depends on memory addresses";
  EXPECT_EQ(first.stats.num_preemptions, third.stats.num_preemptions);
}

TEST(SchedulerStress, PriorityPolicyTinyPool) {
  StressOptions o;
  o.cfg = tiny_pool();
  o.cfg.policy = SchedulingPolicy::Priority;
  o.seed = 11;
  o.num_requests = 4000;
  const StressResult r = run_stress(o);
  expect_healthy(r, o, true);
  o.perturb_heap = true;  // the priority order must not depend on addresses either
  const StressResult again = run_stress(o);
  EXPECT_TRUE(r.trace == again.trace) << "priority schedule depends on memory addresses";
}
