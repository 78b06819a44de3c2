// Continuous batching must not change results: every request's greedy tokens are identical whether it runs
// alone or among many others, with and without prefix caching, under a KV budget small enough to force
// preemption, and with chunked prefill.
#include <gtest/gtest.h>

#include "engine/llm_engine.h"
#include "engine_util.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

constexpr int kNumPrompts = 100;
constexpr int kMaxTokens = 12;

std::vector<std::vector<int32_t>> run_alone(const std::vector<Prompt>& prompts) {
  EngineArgs a = cpu_args("tiny-opt");
  a.enable_prefix_caching = false;
  LLM llm(a);
  std::vector<std::vector<int32_t>> out;
  for (const auto& p : prompts) out.push_back(llm.generate({p}, greedy(kMaxTokens), false)[0].outputs[0].token_ids);
  return out;
}

void expect_same_as_alone(EngineArgs args, const std::vector<Prompt>& prompts,
                          const std::vector<std::vector<int32_t>>& alone, EngineStats* stats = nullptr) {
  LLM llm(args);
  auto outs = llm.generate(prompts, greedy(kMaxTokens), false);
  ASSERT_EQ(outs.size(), prompts.size());
  for (size_t i = 0; i < outs.size(); ++i) {
    ASSERT_FALSE(outs[i].error) << *outs[i].error;
    EXPECT_EQ(outs[i].outputs[0].token_ids, alone[i]) << "prompt " << i;
  }
  if (stats) *stats = llm.stats();
}

class Batching : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!have_fixtures()) return;
    prompts_ = mixed_prompts(kNumPrompts, 50272, 7);
    alone_ = run_alone(prompts_);
  }
  void SetUp() override { SHARDLM_REQUIRE_FIXTURES(); }
  static std::vector<Prompt> prompts_;
  static std::vector<std::vector<int32_t>> alone_;
};
std::vector<Prompt> Batching::prompts_;
std::vector<std::vector<int32_t>> Batching::alone_;

}  // namespace

TEST_F(Batching, AllTogetherWithoutPrefixCaching) {
  EngineArgs a = cpu_args("tiny-opt");
  a.enable_prefix_caching = false;
  expect_same_as_alone(a, prompts_, alone_);
}

TEST_F(Batching, AllTogetherWithPrefixCaching) {
  EngineStats st;
  expect_same_as_alone(cpu_args("tiny-opt"), prompts_, alone_, &st);
  EXPECT_GT(st.prefix_cache_hits_tokens, 0) << "the prompts share prefixes; the cache should have hit";
}

TEST_F(Batching, TinyKvBudgetForcesPreemption) {
  EngineArgs a = cpu_args("tiny-opt");
  // tiny-opt: 2 layers x 4 heads x 16 dims x f32, K and V: 1 KiB per token, 16 KiB per block. 12 blocks.
  a.kv_cache_memory_bytes = 12 * 16 * 1024;
  EngineStats st;
  expect_same_as_alone(a, prompts_, alone_, &st);
  EXPECT_GT(st.num_preemptions, 0);
}

TEST_F(Batching, PriorityPolicyWithTinyKvBudget) {
  // Priorities reorder admission and choose the preemption victims; every request's tokens stay the same.
  EngineArgs a = cpu_args("tiny-opt");
  a.kv_cache_memory_bytes = 12 * 16 * 1024;
  a.scheduling_policy = "priority";
  LLM llm(a);
  std::vector<int> priority;
  for (size_t i = 0; i < prompts_.size(); ++i) priority.push_back((int)((i * 7) % 5) - 2);
  GenerateHooks hooks;
  hooks.progress_bar = false;
  const auto outs = llm.generate(prompts_, std::vector<SamplingParams>(prompts_.size(), greedy(kMaxTokens)), hooks, priority);
  ASSERT_EQ(outs.size(), prompts_.size());
  for (size_t i = 0; i < outs.size(); ++i) EXPECT_EQ(outs[i].outputs[0].token_ids, alone_[i]) << "prompt " << i;
  EXPECT_GT(llm.stats().num_preemptions, 0);
}

TEST_F(Batching, ChunkedPrefillWithSmallTokenBudget) {
  EngineArgs a = cpu_args("tiny-opt");
  a.max_num_batched_tokens = 8;
  expect_same_as_alone(a, prompts_, alone_);
}

TEST_F(Batching, PreemptionAndChunkingWithoutPrefixCaching) {
  EngineArgs a = cpu_args("tiny-opt");
  a.kv_cache_memory_bytes = 10 * 16 * 1024;
  a.max_num_batched_tokens = 24;
  a.enable_prefix_caching = false;
  EngineStats st;
  expect_same_as_alone(a, prompts_, alone_, &st);
  EXPECT_GT(st.num_preemptions, 0);
}

TEST_F(Batching, ParallelSamplingSharesPromptAndMatchesSingleSamples) {
  // n = 3 seeded samples of one prompt equal three separate requests with seeds seed, seed+1, seed+2.
  EngineArgs a = cpu_args("tiny-opt");
  LLM llm(a);
  SamplingParams sp;
  sp.temperature = 0.9f;
  sp.n = 3;
  sp.seed = 11;
  sp.max_tokens = 8;
  auto outs = llm.generate({prompts_[0]}, sp, false);
  ASSERT_EQ(outs[0].outputs.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    SamplingParams one = sp;
    one.n = 1;
    one.seed = 11 + i;
    auto single = llm.generate({prompts_[0]}, one, false);
    EXPECT_EQ(outs[0].outputs[(size_t)i].token_ids, single[0].outputs[0].token_ids) << "sample " << i;
    EXPECT_EQ(outs[0].outputs[(size_t)i].index, i);
  }
}

// Token budget and sequence limit left at 0 take vLLM's defaults for the device (on CPUs: 8192 tokens, 256
// sequences, also for the server); values the user gives are kept.
TEST(BatchDefaults, ZeroTakesTheDeviceDefaultAndGivenValuesAreKept) {
  SHARDLM_REQUIRE_FIXTURES();
  EngineArgs a = cpu_args("tiny-opt");
  LLM defaults(a);
  EXPECT_EQ(defaults.engine().args().max_num_batched_tokens, 8192);
  EXPECT_EQ(defaults.engine().args().max_num_seqs, 256);
  a.max_num_batched_tokens = 300;
  a.max_num_seqs = 3;
  a.usage_context = UsageContext::OpenAIServer;
  LLM given(a);
  EXPECT_EQ(given.engine().args().max_num_batched_tokens, 300);
  EXPECT_EQ(given.engine().args().max_num_seqs, 3);
  a.max_num_seqs = -1;
  EXPECT_THROW(LLM{a}, std::invalid_argument);
}
