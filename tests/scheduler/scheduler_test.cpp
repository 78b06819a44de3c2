// Scheduler scenarios with hand-worked expectations: prefill then decode, token budget, max_num_seqs,
// chunked prefill, prompt = whole blocks, preemption (and its prefix-cache hit on its own blocks),
// n > 1 sharing, aborts, rejection, and API misuse. Block ids follow the free-queue rules of
// block_pool.h: a fresh pool hands out 0, 1, 2, ...
#include <gtest/gtest.h>

#include <tuple>

#include "core/error.h"
#include "sched_test_util.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

SchedulerConfig make_config(int block_size, int num_blocks, int budget, int max_seqs, int max_model_len) {
  SchedulerConfig c;
  c.block_size = block_size;
  c.num_blocks = num_blocks;
  c.max_num_batched_tokens = budget;
  c.max_num_seqs = max_seqs;
  c.max_model_len = max_model_len;
  return c;
}

using Expected = std::vector<std::tuple<std::string, int, int>>;  // id, num_computed before, num_new

void expect_scheduled(const StepRecord& rec, const Expected& want, const char* step) {
  ASSERT_EQ(rec.scheduled.size(), want.size()) << step;
  int total = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(rec.scheduled[i].id, std::get<0>(want[i])) << step << " entry " << i;
    EXPECT_EQ(rec.scheduled[i].num_computed_before, std::get<1>(want[i])) << step << " entry " << i;
    EXPECT_EQ(rec.scheduled[i].num_new_tokens, std::get<2>(want[i])) << step << " entry " << i;
    total += std::get<2>(want[i]);
  }
  EXPECT_EQ(rec.total_num_scheduled_tokens, total) << step;
}

void expect_error_mentions(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected shardlm::Error";
  } catch (const Error& e) {
    for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

using Ids = std::vector<int32_t>;

}  // namespace

TEST(Scheduler, SlotMappingFollowsBlockTable) {
  Request r;
  r.block_ids = {7, 2};
  EXPECT_EQ(kv_slot_of(r, 0, 4), 28);
  EXPECT_EQ(kv_slot_of(r, 3, 4), 31);
  EXPECT_EQ(kv_slot_of(r, 5, 4), 9);
  EXPECT_THROW(kv_slot_of(r, 8, 4), Error);
}

TEST(Scheduler, SingleRequestPrefillThenDecode) {
  Scheduler s(make_config(4, 16, 64, 8, 64));
  s.add_request(make_request("A", token_range(10, 1), 4));
  EXPECT_EQ(s.num_waiting(), 1u);

  StepRecord r0 = run_step(s);
  expect_scheduled(r0, {{"A", 0, 10}}, "step 0");
  EXPECT_EQ(r0.scheduled[0].block_ids, (Ids{0, 1, 2}));
  const Request* a = s.find(id("A"));
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->num_computed_tokens, 10);
  EXPECT_EQ(a->output_token_ids, (Ids{1000}));
  EXPECT_EQ(a->status, RequestStatus::Running);

  expect_scheduled(run_step(s), {{"A", 10, 1}}, "step 1");
  expect_scheduled(run_step(s), {{"A", 11, 1}}, "step 2");
  StepRecord r3 = run_step(s);
  expect_scheduled(r3, {{"A", 12, 1}}, "step 3");
  EXPECT_EQ(r3.scheduled[0].block_ids, (Ids{0, 1, 2, 3}));  // token 12 opens the 4th block
  ASSERT_EQ(r3.finished.size(), 1u);
  EXPECT_EQ(r3.finished[0]->output_token_ids, (Ids{1000, 1001, 1002, 1003}));
  EXPECT_EQ(r3.finished[0]->status, RequestStatus::FinishedLength);
  EXPECT_FALSE(s.has_unfinished());

  // Blocks 0..2 are full and computed (cached, to the tail, last block first); block 3 holds one token
  // (uncached, to the head).
  std::vector<int32_t> queue = {3};
  for (int32_t b = 4; b < 16; ++b) queue.push_back(b);
  queue.insert(queue.end(), {2, 1, 0});
  EXPECT_EQ(s.kv_cache().pool().free_queue(), queue);
  SchedulerStats st = s.stats();
  EXPECT_EQ(st.num_free_blocks, 16);
  EXPECT_EQ(st.num_cached_blocks, 3);
  EXPECT_EQ(st.num_preemptions, 0);
  EXPECT_EQ(st.num_steps, 4);
}

TEST(Scheduler, TokenBudgetAndMaxNumSeqs) {
  Scheduler s(make_config(4, 32, 8, 2, 64));
  s.add_request(make_request("A", token_range(5, 1), 2));
  s.add_request(make_request("B", token_range(5, 11), 2));
  s.add_request(make_request("C", token_range(5, 21), 1));
  expect_scheduled(run_step(s), {{"A", 0, 5}, {"B", 0, 3}}, "step 0");   // budget 8 splits B
  EXPECT_EQ(s.num_running(), 2u);
  EXPECT_EQ(s.num_waiting(), 1u);
  expect_scheduled(run_step(s), {{"A", 5, 1}, {"B", 3, 2}}, "step 1");   // C: max_num_seqs = 2
  StepRecord r2 = run_step(s);
  expect_scheduled(r2, {{"B", 5, 1}, {"C", 0, 5}}, "step 2");            // A finished in step 1
  EXPECT_EQ(r2.finished_ids, (std::vector<std::string>{"A"}));
  EXPECT_FALSE(s.has_unfinished());
}

TEST(Scheduler, ChunkedPrefillOfLongPrompt) {
  Scheduler s(make_config(16, 16, 16, 4, 128));
  s.add_request(make_request("A", token_range(50, 1), 2));
  s.add_request(make_request("B", token_range(3, 500), 2));
  StepRecord r0 = run_step(s);
  expect_scheduled(r0, {{"A", 0, 16}}, "step 0");  // budget used up: B waits
  EXPECT_EQ(r0.scheduled[0].block_ids.size(), 1u);
  EXPECT_TRUE(s.find(id("A"))->output_token_ids.empty());  // partial prefill: nothing sampled
  expect_scheduled(run_step(s), {{"A", 16, 16}}, "step 1");
  expect_scheduled(run_step(s), {{"A", 32, 16}}, "step 2");
  StepRecord r3 = run_step(s);
  expect_scheduled(r3, {{"A", 48, 2}, {"B", 0, 3}}, "step 3");
  EXPECT_EQ(r3.scheduled[0].block_ids.size(), 4u);
  EXPECT_EQ(s.find(id("A"))->output_token_ids, (Ids{1000}));
  expect_scheduled(run_step(s), {{"A", 50, 1}, {"B", 3, 1}}, "step 4");
  EXPECT_FALSE(s.has_unfinished());
}

TEST(Scheduler, LongPrefillThresholdCapsPerRequestChunk) {
  SchedulerConfig c = make_config(4, 32, 64, 4, 64);
  c.long_prefill_token_threshold = 10;
  Scheduler s(c);
  s.add_request(make_request("A", token_range(25, 1), 1));
  s.add_request(make_request("B", token_range(7, 100), 2));
  expect_scheduled(run_step(s), {{"A", 0, 10}, {"B", 0, 7}}, "step 0");
  expect_scheduled(run_step(s), {{"A", 10, 10}, {"B", 7, 1}}, "step 1");
  expect_scheduled(run_step(s), {{"A", 20, 5}}, "step 2");
  EXPECT_FALSE(s.has_unfinished());
}

TEST(Scheduler, ChunkedPrefillDisabledWaitsForWholePrompt) {
  SchedulerConfig c = make_config(4, 32, 16, 4, 32);
  c.enable_chunked_prefill = false;
  expect_error_mentions([&] { Scheduler bad(c); }, {"max_num_batched_tokens", "16", "32"});
  c.max_num_batched_tokens = 32;
  Scheduler s(c);
  s.add_request(make_request("A", token_range(20, 1), 3));
  s.add_request(make_request("B", token_range(32, 100), 1));
  expect_scheduled(run_step(s), {{"A", 0, 20}}, "step 0");  // B needs 32 > 12 left
  expect_scheduled(run_step(s), {{"A", 20, 1}}, "step 1");  // 32 > 31 left
  expect_scheduled(run_step(s), {{"A", 21, 1}}, "step 2");
  expect_scheduled(run_step(s), {{"B", 0, 32}}, "step 3");
  EXPECT_FALSE(s.has_unfinished());
}

TEST(Scheduler, PromptOfWholeBlocksLeavesLastBlockToCompute) {
  Scheduler s(make_config(4, 16, 64, 8, 64));
  s.add_request(make_request("A", token_range(8, 1), 1));
  StepRecord r0 = run_step(s);
  expect_scheduled(r0, {{"A", 0, 8}}, "step 0");
  EXPECT_EQ(r0.scheduled[0].block_ids, (Ids{0, 1}));
  // A finished: blocks 0 and 1 are cached and free.
  s.add_request(make_request("B", token_range(8, 1), 2));      // same 8 tokens
  s.add_request(make_request("C", token_range(4, 1), 1));      // exactly A's first block
  s.add_request(make_request("D", token_range(9, 1), 1));      // A's two blocks plus one token
  StepRecord r1 = run_step(s);
  // B: both blocks cached, but the last token must be computed: the hit drops to one block (4 tokens).
  // C: its only block holds its last token: no hit. D: a full two-block hit, one token to compute.
  expect_scheduled(r1, {{"B", 4, 4}, {"C", 0, 4}, {"D", 8, 1}}, "step 1");
  EXPECT_EQ(r1.scheduled[0].block_ids, (Ids{0, 2}));
  EXPECT_EQ(r1.scheduled[2].block_ids, (Ids{0, 1, 4}));
  EXPECT_EQ(s.find(id("B"))->num_cached_tokens, 4);

  // B recomputed A's second block into block 2; the cache keeps A's copy (block 1), B's stays unhashed.
  const Ids first = token_range(4, 1), second = token_range(4, 5);
  const BlockHash h0 = hash_block_tokens(kRootBlockHash, first.data(), 4);
  const BlockHash h1 = hash_block_tokens(h0, second.data(), 4);
  EXPECT_EQ(s.kv_cache().pool().find_cached(h1), 1);
  EXPECT_FALSE(s.kv_cache().pool().hash_of(2).has_value());
  EXPECT_EQ(s.kv_cache().pool().ref_count(0), 1);  // only B still holds block 0 (C, D finished)

  SchedulerStats st = s.stats();
  EXPECT_EQ(st.prefix_cache_queries_tokens, 8 + 8 + 4 + 9);
  EXPECT_EQ(st.prefix_cache_hits_tokens, 4 + 0 + 8);
}

TEST(Scheduler, PreemptsNewestAndRecomputesWithPrefixHitOnItsOwnBlocks) {
  // 4 blocks of 4 tokens: two 7-token prompts fill the pool once each has 8 tokens.
  Scheduler s(make_config(4, 4, 64, 8, 16));
  s.add_request(make_request("A", token_range(7, 100), 6));
  s.add_request(make_request("B", token_range(7, 200), 6));
  StepRecord r0 = run_step(s);
  expect_scheduled(r0, {{"A", 0, 7}, {"B", 0, 7}}, "step 0");
  EXPECT_EQ(r0.scheduled[1].block_ids, (Ids{2, 3}));
  expect_scheduled(run_step(s), {{"A", 7, 1}, {"B", 7, 1}}, "step 1");

  // A's token 8 needs a third block; none is free: B (newest) is preempted. Its two full, computed
  // blocks go to the cache's tail (3 then 2); A takes block 3, evicting B's second block.
  StepRecord r2 = run_step(s);
  expect_scheduled(r2, {{"A", 8, 1}}, "step 2");
  EXPECT_EQ(r2.preempted_ids, (std::vector<std::string>{"B"}));
  EXPECT_EQ(r2.scheduled[0].block_ids, (Ids{0, 1, 3}));
  const Request* b = s.find(id("B"));
  EXPECT_EQ(b->status, RequestStatus::Preempted);
  EXPECT_EQ(b->num_computed_tokens, 0);
  EXPECT_TRUE(b->block_ids.empty());
  EXPECT_EQ(b->output_token_ids, (Ids{1000, 1001}));  // tokens preserved
  EXPECT_EQ(s.stats().num_preemptions, 1);

  // B's first block is still cached, but B needs 2 more blocks and only that one is free: it waits.
  expect_scheduled(run_step(s), {{"A", 9, 1}}, "step 3");
  expect_scheduled(run_step(s), {{"A", 10, 1}}, "step 4");
  StepRecord r5 = run_step(s);
  expect_scheduled(r5, {{"A", 11, 1}}, "step 5");
  ASSERT_EQ(r5.finished.size(), 1u);
  EXPECT_EQ(r5.finished[0]->output_token_ids, (Ids{1000, 1001, 1002, 1003, 1004, 1005}));

  // A is gone (its blocks 3, 1, 0 cached at the tail behind B's block 2). B hits its own block 2 and
  // recomputes the other 5 of its 9 tokens (7 prompt + 2 outputs).
  StepRecord r6 = run_step(s);
  expect_scheduled(r6, {{"B", 4, 5}}, "step 6");
  EXPECT_EQ(r6.scheduled[0].block_ids, (Ids{2, 3, 1}));
  EXPECT_EQ(s.find(id("B"))->num_cached_tokens, 0);  // recorded at the first schedule only
  EXPECT_EQ(s.find(id("B"))->num_preemptions, 1);
  std::unique_ptr<Request> done;
  while (s.has_unfinished()) {
    StepRecord r = run_step(s);
    if (!r.finished.empty()) done = std::move(r.finished[0]);
  }
  ASSERT_TRUE(done);
  EXPECT_EQ(done->prompt_token_ids, token_range(7, 200));
  EXPECT_EQ(done->output_token_ids, (Ids{1000, 1001, 1002, 1003, 1004, 1005}));
  SchedulerStats st = s.stats();
  EXPECT_EQ(st.prefix_cache_queries_tokens, 7 + 7 + 9);
  EXPECT_EQ(st.prefix_cache_hits_tokens, 4);
  EXPECT_EQ(st.num_free_blocks, 4);
}

TEST(Scheduler, SeveralVictimsOlderOneReadmittedFirst) {
  SchedulerConfig c = make_config(4, 4, 64, 8, 64);
  c.long_prefill_token_threshold = 8;
  Scheduler s(c);
  s.add_request(make_request("A", token_range(16, 1), 1));
  s.add_request(make_request("B", token_range(3, 100), 2));
  s.add_request(make_request("C", token_range(3, 200), 2));
  expect_scheduled(run_step(s), {{"A", 0, 8}, {"B", 0, 3}, {"C", 0, 3}}, "step 0");
  // A's next chunk needs 2 blocks, none free: C goes, then B. No admissions in a preempting step.
  StepRecord r1 = run_step(s);
  expect_scheduled(r1, {{"A", 8, 8}}, "step 1");
  EXPECT_EQ(r1.preempted_ids, (std::vector<std::string>{"C", "B"}));
  EXPECT_EQ(s.num_waiting(), 2u);
  // B (older) first; each recomputes prompt + its one output.
  expect_scheduled(run_step(s), {{"B", 0, 4}, {"C", 0, 4}}, "step 2");
  EXPECT_EQ(s.stats().num_preemptions, 2);
  EXPECT_FALSE(s.has_unfinished());
}

TEST(Scheduler, ParallelSamplingSiblingsSharePromptBlocks) {
  Scheduler s(make_config(4, 32, 64, 8, 64));
  for (const char* id : {"n0", "n1", "n2"}) s.add_request(make_request(id, token_range(10, 1), 3));
  // n1 and n2 would hit blocks n0 computes in this very step: they wait one step instead.
  StepRecord r0 = run_step(s);
  expect_scheduled(r0, {{"n0", 0, 10}}, "step 0");
  StepRecord r1 = run_step(s);
  expect_scheduled(r1, {{"n0", 10, 1}, {"n1", 8, 2}, {"n2", 8, 2}}, "step 1");
  EXPECT_EQ(r1.scheduled[1].block_ids, (Ids{0, 1, 3}));
  EXPECT_EQ(r1.scheduled[2].block_ids, (Ids{0, 1, 4}));
  EXPECT_EQ(s.kv_cache().pool().ref_count(0), 3);
  EXPECT_EQ(s.kv_cache().pool().ref_count(1), 3);
  EXPECT_EQ(s.kv_cache().pool().ref_count(2), 1);
  EXPECT_EQ(s.find(id("n1"))->num_cached_tokens, 8);
  EXPECT_EQ(s.stats().prefix_cache_hits_tokens, 16);
  while (s.has_unfinished()) run_step(s);
  EXPECT_EQ(s.stats().num_free_blocks, 32);
}

TEST(Scheduler, DeferredSiblingKeepsItsPlaceWhileOthersGoAhead) {
  Scheduler s(make_config(4, 32, 64, 8, 64));
  s.add_request(make_request("n0", token_range(8, 1), 3));
  s.add_request(make_request("n1", token_range(8, 1), 3));
  s.add_request(make_request("X", token_range(3, 50), 3));
  StepRecord r0 = run_step(s);
  expect_scheduled(r0, {{"n0", 0, 8}, {"X", 0, 3}}, "step 0");  // n1 waits for n0's blocks
  EXPECT_EQ(r0.scheduled[1].block_ids, (Ids{2}));
  StepRecord r1 = run_step(s);
  // n1 hits n0's first block only: its second block holds its last token.
  expect_scheduled(r1, {{"n0", 8, 1}, {"X", 3, 1}, {"n1", 4, 4}}, "step 1");
  EXPECT_EQ(r1.scheduled[0].block_ids, (Ids{0, 1, 3}));
  EXPECT_EQ(r1.scheduled[2].block_ids, (Ids{0, 4}));
}

TEST(Scheduler, WithoutPrefixCachingSiblingsComputeAlone) {
  SchedulerConfig c = make_config(4, 32, 64, 8, 64);
  c.enable_prefix_caching = false;
  Scheduler s(c);
  for (const char* id : {"n0", "n1", "n2"}) s.add_request(make_request(id, token_range(10, 1), 2));
  StepRecord r0 = run_step(s);
  expect_scheduled(r0, {{"n0", 0, 10}, {"n1", 0, 10}, {"n2", 0, 10}}, "step 0");
  EXPECT_EQ(r0.scheduled[2].block_ids, (Ids{6, 7, 8}));
  EXPECT_EQ(s.stats().num_cached_blocks, 0);
  EXPECT_EQ(s.stats().prefix_cache_queries_tokens, 0);
}

TEST(Scheduler, AbortsFreeBlocksAnywhere) {
  Scheduler s(make_config(4, 16, 64, 2, 64));
  s.add_request(make_request("A", token_range(6, 1), 10));
  s.add_request(make_request("B", token_range(6, 100), 10));
  s.add_request(make_request("C", token_range(6, 200), 10));
  expect_scheduled(run_step(s), {{"A", 0, 6}, {"B", 0, 6}}, "step 0");

  std::unique_ptr<Request> c = s.finish_request(id("C"), RequestStatus::FinishedAborted);  // waiting
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, RequestStatus::FinishedAborted);
  EXPECT_EQ(c->prompt_token_ids, token_range(6, 200));
  std::unique_ptr<Request> b = s.finish_request(id("B"), RequestStatus::FinishedAborted);  // running
  ASSERT_TRUE(b);
  EXPECT_EQ(b->output_token_ids, (Ids{1000}));
  EXPECT_TRUE(b->block_ids.empty());
  EXPECT_EQ(s.stats().num_free_blocks, 14);  // A holds 2
  EXPECT_EQ(s.finish_request(id("nobody"), RequestStatus::FinishedAborted), nullptr);
  EXPECT_THROW(s.finish_request(id("A"), RequestStatus::Running), Error);
  s.check_invariants();

  // Abort while a step is in flight: the step's results for A are ignored.
  SchedulerOutput out = s.schedule();
  EXPECT_EQ(names_of(out.finished_ids), (std::vector<std::string>{"C", "B"}));
  ASSERT_EQ(out.scheduled.size(), 1u);
  ASSERT_TRUE(s.finish_request(id("A"), RequestStatus::FinishedStopped));
  s.update_from_output(out, {{id("A"), 5}});
  s.check_invariants();
  EXPECT_FALSE(s.has_unfinished());
  EXPECT_EQ(s.stats().num_free_blocks, 16);
  EXPECT_EQ(names_of(s.schedule().finished_ids), (std::vector<std::string>{"A"}));
}

TEST(Scheduler, RejectsRequestsThatCanNeverFitOthersGoOn) {
  Scheduler s(make_config(4, 8, 64, 8, 40));
  s.add_request(make_request("ok1", token_range(5, 1), 2));
  expect_error_mentions([&] { s.add_request(make_request("big", token_range(41, 1), 1)); },
                        {quoted("big"), "41", "max_model_len 40"});
  // 30 + 10 - 1 = 39 KV tokens = 10 blocks > 8.
  expect_error_mentions([&] { s.add_request(make_request("long", token_range(30, 1), 10)); },
                        {quoted("long"), "10 KV blocks", "8 blocks"});
  expect_error_mentions([&] { s.add_request(make_request("ok1", token_range(3, 1), 1)); }, {quoted("ok1"), "already"});
  expect_error_mentions([&] { s.add_request(make_request("empty", {}, 1)); }, {quoted("empty"), "empty prompt"});
  expect_error_mentions([&] { s.add_request(make_request("zero", token_range(3, 1), 0)); }, {quoted("zero"), "max_tokens"});
  EXPECT_THROW(s.add_request(nullptr), Error);
  s.add_request(make_request("fits", token_range(30, 500), 3));  // 32 KV tokens = 8 blocks: fits
  s.add_request(make_request("ok2", token_range(4, 900), 1));
  EXPECT_EQ(s.num_waiting(), 3u);
  std::map<std::string, Ids> outputs;
  while (s.has_unfinished()) {
    StepRecord r = run_step(s);
    for (auto& f : r.finished) outputs[name_of(f->request_id)] = f->output_token_ids;
  }
  EXPECT_EQ(outputs["ok1"], (Ids{1000, 1001}));
  EXPECT_EQ(outputs["fits"], (Ids{1000, 1001, 1002}));
  EXPECT_EQ(outputs["ok2"], (Ids{1000}));
  EXPECT_EQ(outputs.size(), 3u);
}

TEST(Scheduler, BadConfigsAreErrors) {
  expect_error_mentions([] { Scheduler s(make_config(0, 8, 64, 8, 40)); }, {"block_size"});
  expect_error_mentions([] { Scheduler s(make_config(4, 0, 64, 8, 40)); }, {"num_blocks"});
  expect_error_mentions([] { Scheduler s(make_config(4, 8, 0, 8, 40)); }, {"max_num_batched_tokens"});
  expect_error_mentions([] { Scheduler s(make_config(4, 8, 64, 0, 40)); }, {"max_num_seqs"});
  expect_error_mentions([] { Scheduler s(make_config(4, 8, 64, 8, 0)); }, {"max_model_len"});
}

TEST(Scheduler, ProtocolMisuseIsReportedWithoutCorruptingState) {
  Scheduler s(make_config(4, 16, 6, 8, 8));
  s.add_request(make_request("A", token_range(8, 1), 5));
  SchedulerOutput out = s.schedule();  // A: 6 of 8 prompt tokens
  EXPECT_THROW(s.schedule(), Error);   // previous step not applied
  expect_error_mentions([&] { s.update_from_output(out, {{id("A"), 7}}); }, {quoted("A"), "did not reach"});
  s.update_from_output(out, {});
  EXPECT_THROW(s.update_from_output(out, {}), Error);  // stale output
  out = s.schedule();                                  // A: last 2 tokens
  expect_error_mentions([&] { s.update_from_output(out, {}); }, {quoted("A"), "no sampled token"});
  s.check_invariants();
  s.update_from_output(out, {{id("A"), 42}});
  EXPECT_EQ(s.find(id("A"))->output_token_ids, (Ids{42}));
  // A has 9 tokens > max_model_len 8: the engine had to finish it.
  expect_error_mentions([&] { s.schedule(); }, {quoted("A"), "max_model_len"});
  ASSERT_TRUE(s.finish_request(id("A"), RequestStatus::FinishedLength));
  s.check_invariants();
}

TEST(Scheduler, InvariantCheckCatchesCorruption) {
  Scheduler s(make_config(4, 16, 64, 8, 64));
  s.add_request(make_request("A", token_range(6, 1), 5));
  run_step(s);
  Request* a = const_cast<Request*>(s.find(id("A")));
  a->block_ids.push_back(9);  // a block the pool does not count as held by A
  EXPECT_THROW(s.check_invariants(), Error);
  a->block_ids.pop_back();
  s.check_invariants();
  std::swap(a->block_ids[0], a->block_ids[1]);  // block 0 is cached as A's first block, now at index 1
  EXPECT_THROW(s.check_invariants(), Error);
  std::swap(a->block_ids[0], a->block_ids[1]);
  a->num_computed_tokens = 2;  // fewer computed tokens than its blocks cover
  EXPECT_THROW(s.check_invariants(), Error);
}

TEST(Scheduler, ResetPrefixCacheRefusedWhileBlocksAreHeldThenForgetsEveryBlock) {
  Scheduler s(make_config(4, 16, 64, 4, 64));
  auto run_to_end = [&](const std::string& id) {
    s.add_request(make_request(id, token_range(10, 1), 2));
    int steps = 0;
    while (s.has_unfinished()) {
      run_step(s);
      if (s.has_unfinished()) {
        EXPECT_FALSE(s.reset_prefix_cache()) << "request " << id << " holds blocks";
      }
      ASSERT_LT(++steps, 10);
    }
  };
  run_to_end("A");
  run_to_end("B");  // same prompt: hits A's two full blocks
  EXPECT_EQ(s.stats().prefix_cache_hits_tokens, 8);
  EXPECT_GT(s.stats().num_cached_blocks, 0);

  s.add_request(make_request("waiting", token_range(10, 1), 2));  // holds no block yet
  EXPECT_TRUE(s.reset_prefix_cache());
  EXPECT_EQ(s.stats().num_cached_blocks, 0);
  s.check_invariants();
  int steps = 0;
  while (s.has_unfinished()) {
    run_step(s);
    ASSERT_LT(++steps, 10);
  }
  EXPECT_EQ(s.stats().prefix_cache_hits_tokens, 8) << "nothing cached before the reset is reused";
  run_to_end("C");  // the cache fills again
  EXPECT_EQ(s.stats().prefix_cache_hits_tokens, 16);
}
