// Llama-family variants through the public LLM API: the four golden prompts in one batched greedy generate()
// with log-probabilities, tokenizer from stories260K (EngineArgs.tokenizer), against transformers' goldens.
#include <gtest/gtest.h>

#include "llama_family_util.h"
#include "shardlm/llm.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

class LlamaFamilyEngine : public ::testing::TestWithParam<LlamaVariant> {};

TEST_P(LlamaFamilyEngine, BatchedGreedyMatchesTransformers) {
  SHARDLM_REQUIRE_FIXTURES();  // the tokenizer
  const std::string name = GetParam().name;
  std::vector<GoldenPrompt> golden = read_llama_golden(name);
  EngineArgs args;
  args.model = llama_variant_dir(name);
  args.tokenizer = llama_variant_tokenizer();
  args.device = "cpu";
  args.num_threads = 1;
  LLM llm(args);
  std::vector<Prompt> prompts;
  for (const auto& g : golden) prompts.push_back(Prompt::from_token_ids(g.prompt));
  SamplingParams sp;
  sp.temperature = 0.0f;
  sp.max_tokens = 24;
  sp.ignore_eos = true;
  sp.logprobs = 1;
  auto outs = llm.generate(prompts, sp, false);
  ASSERT_EQ(outs.size(), golden.size());
  for (size_t i = 0; i < outs.size(); ++i) {
    SCOPED_TRACE(name + " prompt " + std::to_string(i));
    const auto& c = outs[i].outputs.at(0);
    EXPECT_EQ(c.finish_reason, "length");
    ASSERT_TRUE(c.logprobs.has_value());
    ASSERT_EQ(c.logprobs->size(), c.token_ids.size());
    expect_greedy_matches(golden[i], c.token_ids, [&](size_t t) { return (*c.logprobs)[t].at(c.token_ids[t]); }, 1e-3);
    EXPECT_FALSE(c.text.empty());  // detokenized by the borrowed tokenizer
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, LlamaFamilyEngine, ::testing::ValuesIn(llama_variants()),
                         [](const auto& info) { return param_name(info.param.name); });

}  // namespace
