// Engine-level sampling behaviour: seeded requests repeat exactly, stop conditions, and bad input.
#include <gtest/gtest.h>

#include <stdexcept>

#include "engine/llm_engine.h"
#include "engine_util.h"

using namespace shardlm;
using namespace shardlm::testing;

TEST(EngineSampling, SeededRunsRepeatAndSeedsDiffer) {
  SHARDLM_REQUIRE_FIXTURES();
  SamplingParams sp;
  sp.temperature = 0.8f;
  sp.top_p = 0.95f;
  sp.seed = 1234;
  sp.max_tokens = 16;
  std::vector<Prompt> prompts = {"Hello, my name is", "The capital of France is"};
  auto a = LLM(cpu_args("tiny-opt")).generate(prompts, sp, false);
  auto b = LLM(cpu_args("tiny-opt")).generate(prompts, sp, false);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].outputs[0].token_ids, b[i].outputs[0].token_ids);
  sp.seed = 99;
  auto c = LLM(cpu_args("tiny-opt")).generate(prompts, sp, false);
  EXPECT_NE(a[0].outputs[0].token_ids, c[0].outputs[0].token_ids);
}

TEST(EngineSampling, UnseededRequestsFollowTheEngineSeed) {
  SHARDLM_REQUIRE_FIXTURES();
  SamplingParams sp;
  sp.temperature = 1.0f;
  sp.max_tokens = 12;
  auto a = LLM(cpu_args("tiny-opt")).generate({"Hello"}, sp, false);
  auto b = LLM(cpu_args("tiny-opt")).generate({"Hello"}, sp, false);
  EXPECT_EQ(a[0].outputs[0].token_ids, b[0].outputs[0].token_ids);
}

TEST(EngineSampling, StopTokenIdsAndMaxTokens) {
  SHARDLM_REQUIRE_FIXTURES();
  LLM llm(cpu_args("tiny-opt"));
  auto ref = llm.generate({"Hello, my name is"}, greedy(10), false)[0].outputs[0];
  ASSERT_EQ(ref.token_ids.size(), 10u);
  EXPECT_EQ(ref.finish_reason, "length");
  SamplingParams sp = greedy(10);
  sp.stop_token_ids = {ref.token_ids[3]};
  auto stopped = llm.generate({"Hello, my name is"}, sp, false)[0].outputs[0];
  size_t first = 0;
  while (ref.token_ids[first] != ref.token_ids[3]) ++first;
  EXPECT_EQ(stopped.token_ids.size(), first + 1);
  EXPECT_EQ(stopped.finish_reason, "stop");
  ASSERT_TRUE(stopped.stop_reason_token.has_value());
  EXPECT_EQ(*stopped.stop_reason_token, ref.token_ids[3]);
  // min_tokens suppresses the stop token until enough tokens exist.
  sp.min_tokens = 8;
  auto later = llm.generate({"Hello, my name is"}, sp, false)[0].outputs[0];
  EXPECT_GE(later.token_ids.size(), 8u);
}

TEST(EngineSampling, StopStringIsCutFromText) {
  SHARDLM_REQUIRE_FIXTURES();
  LLM llm(cpu_args("stories260K"));
  SamplingParams sp;
  sp.temperature = 0;
  sp.max_tokens = 60;
  sp.stop = {"Lily"};
  auto out = llm.generate({Prompt::from_token_ids({1})}, sp, false)[0].outputs[0];
  EXPECT_EQ(out.text, "Once upon a time, there was a little girl named ");
  EXPECT_EQ(out.finish_reason, "stop");
  EXPECT_EQ(out.stop_reason_str.value_or(""), "Lily");
  sp.include_stop_str_in_output = true;
  out = llm.generate({Prompt::from_token_ids({1})}, sp, false)[0].outputs[0];
  EXPECT_EQ(out.text, "Once upon a time, there was a little girl named Lily");
}

TEST(EngineErrors, PromptLongerThanMaxModelLenFailsAloneOthersGoOn) {
  SHARDLM_REQUIRE_FIXTURES();
  EngineArgs a = cpu_args("tiny-opt");
  a.max_model_len = 32;
  LLM llm(a);
  std::vector<int32_t> long_prompt(40, 100);
  auto outs = llm.generate({Prompt::from_token_ids(long_prompt), "Hello"}, greedy(4), false);
  ASSERT_TRUE(outs[0].error.has_value());
  EXPECT_NE(outs[0].error->find("maximum model length of 32"), std::string::npos) << *outs[0].error;
  EXPECT_FALSE(outs[1].error.has_value());
  EXPECT_EQ(outs[1].outputs[0].token_ids.size(), 4u);
}

TEST(EngineErrors, GenerationStopsAtMaxModelLen) {
  SHARDLM_REQUIRE_FIXTURES();
  EngineArgs a = cpu_args("tiny-opt");
  a.max_model_len = 20;
  LLM llm(a);
  auto out = llm.generate({Prompt::from_token_ids(std::vector<int32_t>(15, 100))}, greedy(50), false)[0];
  EXPECT_EQ(out.outputs[0].token_ids.size(), 5u);
  EXPECT_EQ(out.outputs[0].finish_reason, "length");
}

TEST(EngineErrors, InvalidArgumentsNameTheField) {
  SHARDLM_REQUIRE_FIXTURES();
  LLM llm(cpu_args("tiny-opt"));
  SamplingParams sp;
  sp.temperature = -1;
  try {
    llm.generate({"x"}, sp, false);
    FAIL() << "expected invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("temperature"), std::string::npos) << e.what();
  }
  sp = SamplingParams();
  sp.top_p = 0;
  EXPECT_THROW(llm.generate({"x"}, sp, false), std::invalid_argument);
  EXPECT_THROW(llm.generate({Prompt::from_token_ids({1, 999999})}, greedy(2), false), std::invalid_argument);
  EngineArgs a = cpu_args("tiny-opt");
  a.max_model_len = 100000;
  EXPECT_THROW(LLM{a}, std::invalid_argument);
  a = cpu_args("tiny-opt");
  a.device = "tpu";
  EXPECT_THROW(LLM{a}, std::invalid_argument);
}

// A prompt rejected by an exception leaves the engine as it was: the prompts before it are not left queued,
// so the next generate() (which numbers its requests from 0 again) works and gives the same outputs.
TEST(EngineErrors, RejectedPromptLeavesTheEngineUsable) {
  SHARDLM_REQUIRE_FIXTURES();
  LLM llm(cpu_args("tiny-opt"));
  const std::vector<Prompt> good = {Prompt::from_token_ids({2, 100, 200}), Prompt::from_token_ids({2, 7})};
  const auto reference = llm.generate(good, greedy(4), false);
  EXPECT_THROW(llm.generate({good[0], good[1], Prompt::from_token_ids({2, 999999})}, greedy(4), false),
               std::invalid_argument);
  EXPECT_FALSE(llm.engine().has_unfinished_requests());
  const auto again = llm.generate(good, greedy(4), false);
  for (size_t i = 0; i < good.size(); ++i) EXPECT_EQ(again[i].outputs[0].token_ids, reference[i].outputs[0].token_ids);
}

TEST(EngineErrors, MissingModelAndTokenizerAreClear) {
  EngineArgs a;
  a.model = "/nonexistent/model";
  a.device = "cpu";
  try {
    LLM llm(a);
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model"), std::string::npos) << e.what();
  }
  a.model = "some-org/some-model-not-cached";
  try {
    LLM llm(a);
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("models--some-org--some-model-not-cached"), std::string::npos) << e.what();
  }
}

TEST(EngineErrors, RequestLargerThanTheKvCacheFailsAloneOthersGoOn) {
  SHARDLM_REQUIRE_FIXTURES();
  EngineArgs a = cpu_args("tiny-opt");
  a.kv_cache_memory_bytes = 4 * 16 * 1024;  // 4 blocks of 16 tokens (tiny-opt: 1 KiB of K+V per token)
  LLM llm(a);
  auto outs = llm.generate({Prompt::from_token_ids(std::vector<int32_t>(40, 100)), "Hello"}, greedy(40), false);
  ASSERT_TRUE(outs[0].error.has_value());
  EXPECT_NE(outs[0].error->find("KV-cache blocks"), std::string::npos) << *outs[0].error;
  ASSERT_FALSE(outs[1].error.has_value()) << *outs[1].error;
  EXPECT_EQ(outs[1].outputs[0].token_ids.size(), 40u);
}

// vLLM's max_logprobs (20 by default): more is refused with a message naming the limit, before anything runs;
// -1 asks for the whole vocabulary and needs max_logprobs = -1.
TEST(EngineErrors, LogprobsBeyondMaxLogprobsAreRefused) {
  SHARDLM_REQUIRE_FIXTURES();
  SamplingParams sp = greedy(2);
  sp.logprobs = 21;
  LLM llm(cpu_args("tiny-opt"));
  try {
    llm.generate({"Hi"}, sp, false);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("greater than max allowed: 20"), std::string::npos) << e.what();
  }
  sp.logprobs = 20;
  EXPECT_EQ((*llm.generate({"Hi"}, sp, false)[0].outputs[0].logprobs)[0].size(), 20u);  // greedy: the sampled is the top one
  sp.logprobs = -1;
  EXPECT_THROW(llm.generate({"Hi"}, sp, false), std::invalid_argument);
  EngineArgs unlimited = cpu_args("tiny-opt");
  unlimited.max_logprobs = -1;
  const auto all = LLM(unlimited).generate({"Hi"}, sp, false)[0].outputs[0];
  EXPECT_EQ((*all.logprobs)[0].size(), 50272u);  // every token of tiny-opt's vocabulary
  unlimited.max_logprobs = -2;
  EXPECT_THROW(LLM{unlimited}, std::invalid_argument);
}
