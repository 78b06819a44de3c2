// The priority scheduling policy (vLLM's scheduling_policy="priority") against hand-worked expectations: the
// waiting queue ordered by (priority, arrival), FCFS ignoring the values, the preemption victim chosen by the
// worst (priority, arrival) -- including one already scheduled in the same step, whose tokens are taken back.
#include <gtest/gtest.h>

#include "sched_test_util.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

SchedulerConfig config(SchedulingPolicy policy, int num_blocks, int max_seqs) {
  SchedulerConfig c;
  c.block_size = 4;
  c.num_blocks = num_blocks;
  c.max_num_batched_tokens = 64;
  c.max_num_seqs = max_seqs;
  c.max_model_len = 16;
  c.policy = policy;
  return c;
}

void add(Scheduler& s, const std::string& id, int priority, int prompt_len, int max_tokens) {
  std::unique_ptr<Request> r = make_request(id, token_range(prompt_len, 100 * (int)id[0]), max_tokens);
  r->priority = priority;
  s.add_request(std::move(r));
}

// One request runs at a time (max_num_seqs 1, one output token each): the order they are admitted in.
std::vector<std::string> admission_order(SchedulingPolicy policy) {
  Scheduler s(config(policy, 16, 1));
  add(s, "C", 2, 3, 1);
  add(s, "A", 0, 3, 1);
  add(s, "B", 0, 3, 1);
  add(s, "D", 1, 3, 1);
  std::vector<std::string> order;
  while (s.has_unfinished()) {
    const StepRecord r = run_step(s);
    EXPECT_EQ(r.scheduled.size(), 1u);
    for (const ScheduledView& v : r.scheduled) order.push_back(v.id);
  }
  return order;
}

}  // namespace

TEST(SchedulerPriority, WaitingQueueOrderedByPriorityThenArrival) {
  EXPECT_EQ(admission_order(SchedulingPolicy::Priority), (std::vector<std::string>{"A", "B", "D", "C"}));
  EXPECT_EQ(admission_order(SchedulingPolicy::Fcfs), (std::vector<std::string>{"C", "A", "B", "D"}));
}

TEST(SchedulerPriority, PreemptsHighestPriorityValueNotNewest) {
  // 4 blocks of 4 tokens: two 7-token prompts fill the pool once each has 8 tokens. A arrived first but has
  // the worse priority: when B needs a third block, A is the victim (under FCFS, B, the newest, would be).
  Scheduler s(config(SchedulingPolicy::Priority, 4, 8));
  add(s, "A", 1, 7, 6);
  add(s, "B", 0, 7, 6);
  const StepRecord r0 = run_step(s);
  ASSERT_EQ(r0.scheduled.size(), 2u);
  EXPECT_EQ(r0.scheduled[0].id, "B");  // admitted in priority order
  run_step(s);
  const StepRecord r2 = run_step(s);
  EXPECT_EQ(r2.preempted_ids, (std::vector<std::string>{"A"}));
  ASSERT_EQ(r2.scheduled.size(), 1u);
  EXPECT_EQ(r2.scheduled[0].id, "B");
  EXPECT_EQ(r2.scheduled[0].num_computed_before, 8);
  EXPECT_EQ(s.find(id("A"))->status, RequestStatus::Preempted);
  // A comes back after B finishes and ends with all its tokens.
  std::vector<std::string> finished;
  while (s.has_unfinished())
    for (auto& f : run_step(s).finished) finished.push_back(name_of(f->request_id));
  EXPECT_EQ(finished, (std::vector<std::string>{"B", "A"}));
}

TEST(SchedulerPriority, VictimScheduledEarlierInTheStepGivesBackItsTokens) {
  // A (priority 5) runs alone first; B (priority 0) joins. In step 2 A fits its block and is scheduled first,
  // then B needs a third block while none is free: the victim is A, already scheduled, so its entry and its
  // token are taken back and B is the step's only request.
  for (SchedulingPolicy policy : {SchedulingPolicy::Priority, SchedulingPolicy::Fcfs}) {
    Scheduler s(config(policy, 4, 8));
    add(s, "A", policy == SchedulingPolicy::Priority ? 5 : 0, 5, 8);
    run_step(s);  // A: 5 prompt tokens computed, blocks {0, 1}
    add(s, "B", 0, 8, 4);
    const StepRecord r1 = run_step(s);  // A token 5, B's prompt: the pool is full
    ASSERT_EQ(r1.scheduled.size(), 2u);
    const StepRecord r2 = run_step(s);
    ASSERT_EQ(r2.scheduled.size(), 1u);
    ASSERT_EQ(r2.preempted_ids.size(), 1u);
    if (policy == SchedulingPolicy::Priority) {
      EXPECT_EQ(r2.preempted_ids[0], "A");
      EXPECT_EQ(r2.scheduled[0].id, "B");
      EXPECT_EQ(r2.scheduled[0].num_computed_before, 8);
    } else {  // FCFS: the newest (B itself) goes
      EXPECT_EQ(r2.preempted_ids[0], "B");
      EXPECT_EQ(r2.scheduled[0].id, "A");
    }
    EXPECT_EQ(r2.total_num_scheduled_tokens, 1);
    while (s.has_unfinished()) run_step(s);  // run_step checks every invariant after each step
  }
}
