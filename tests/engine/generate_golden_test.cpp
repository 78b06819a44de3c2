// Whole generations through the public LLM API against transformers' greedy tokens and log-probabilities,
// with all four golden prompts in one batched generate() call.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "engine_util.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

void check_batched_greedy(const std::string& name) {
  SHARDLM_REQUIRE_FIXTURES();
  std::ifstream f(model_dir(name) + "/golden.json");
  auto golden = nlohmann::json::parse(f);
  LLM llm(cpu_args(name));
  std::vector<Prompt> prompts;
  for (const auto& p : golden["prompts"]) prompts.push_back(Prompt::from_token_ids(p["prompt_token_ids"]));
  SamplingParams sp = greedy(24);
  sp.logprobs = 1;
  auto outs = llm.generate(prompts, sp, false);
  ASSERT_EQ(outs.size(), prompts.size());
  for (size_t i = 0; i < outs.size(); ++i) {
    SCOPED_TRACE(name + " prompt " + std::to_string(i));
    auto want = golden["prompts"][i]["greedy_token_ids"].get<std::vector<int32_t>>();
    auto want_lp = golden["prompts"][i]["greedy_logprobs"].get<std::vector<double>>();
    auto margin = golden["prompts"][i]["top1_minus_top2"].get<std::vector<double>>();
    const auto& c = outs[i].outputs.at(0);
    ASSERT_EQ(c.token_ids.size(), 24u);
    ASSERT_TRUE(c.logprobs.has_value());
    EXPECT_EQ(c.finish_reason, "length");
    for (size_t t = 0; t < want.size(); ++t) {
      EXPECT_EQ(c.token_ids[t], want[t]) << "step " << t;
      EXPECT_NEAR((*c.logprobs)[t].at(c.token_ids[t]), want_lp[t], 1e-3) << "step " << t;
      EXPECT_LE((*c.logprobs)[t].size(), 2u);
      if (c.token_ids[t] != want[t] || margin[t] < 1e-2) break;
    }
  }
}

}  // namespace

TEST(GenerateGolden, TinyOptBatched) { check_batched_greedy("tiny-opt"); }
TEST(GenerateGolden, TinyOptBinBatched) { check_batched_greedy("tiny-opt-bin"); }
TEST(GenerateGolden, TinyOptPostLnBatched) { check_batched_greedy("tiny-opt-postln"); }
TEST(GenerateGolden, TinyLlamaBatched) { check_batched_greedy("tiny-llama"); }

TEST(GenerateGolden, Stories260KText) {
  SHARDLM_REQUIRE_FIXTURES();
  std::ifstream f(model_dir("stories260K") + "/golden.json");
  auto golden = nlohmann::json::parse(f);
  LLM llm(cpu_args("stories260K"));
  SamplingParams sp;
  sp.temperature = 0;
  sp.max_tokens = 200;
  auto outs = llm.generate({Prompt::from_token_ids({1})}, sp, false);
  EXPECT_EQ(outs[0].outputs[0].token_ids, golden["ids"].get<std::vector<int32_t>>());
  EXPECT_EQ(outs[0].outputs[0].text, golden["text"].get<std::string>());
}

TEST(GenerateGolden, OptTokenizesSeedPromptsAsVllm) {
  SHARDLM_REQUIRE_FIXTURES();
  LLM llm(cpu_args("tiny-opt"));
  EXPECT_EQ(llm.encode("Hello, my name is"), (std::vector<int32_t>{2, 31414, 6, 127, 766, 16}));
  auto outs = llm.generate({"Hello, my name is"}, greedy(4), false);
  EXPECT_EQ(outs[0].prompt, "Hello, my name is");
  EXPECT_EQ(outs[0].prompt_token_ids, (std::vector<int32_t>{2, 31414, 6, 127, 766, 16}));
}
