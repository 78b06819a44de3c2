// Prompt logprobs through the engine against transformers' golden prefill logits (tiny-opt, fp32 CPU), through
// one-shot and chunked prefill; the prefix cache is not read for them; FINAL_ONLY streams one delta per
// sequence; the streamed prompt logprobs equal the final ones.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/model_harness.h"
#include "engine_util.h"

namespace shardlm::testing {
namespace {

// log_softmax(golden row)[token] in double.
double golden_logprob(const float* row, int64_t vocab, int32_t token) {
  double max = row[0];
  for (int64_t i = 1; i < vocab; ++i) max = std::max(max, (double)row[i]);
  double z = 0;
  for (int64_t i = 0; i < vocab; ++i) z += std::exp((double)row[i] - max);
  return (double)row[token] - max - std::log(z);
}

void expect_golden_prompt_logprobs(EngineArgs args, int top) {
  const std::string dir = model_dir("tiny-opt");
  std::ifstream f(dir + "/golden.json");
  const nlohmann::json golden = nlohmann::json::parse(f)["prompts"];
  auto store = open_safetensors_file(dir + "/golden_logits.safetensors");
  args.dtype = "float32";
  LLM llm(args);
  SamplingParams sp = greedy(1);
  sp.prompt_logprobs = top;
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE("prompt " + std::to_string(i));
    const auto ids = golden[i]["prompt_token_ids"].get<std::vector<int32_t>>();
    const Tensor want = store->get("prefill_logits_" + std::to_string(i));
    const RequestOutput out = llm.generate({Prompt::from_token_ids(ids)}, sp, false)[0];
    ASSERT_TRUE(out.prompt_logprobs.has_value());
    ASSERT_EQ(out.prompt_logprobs->size(), ids.size());
    EXPECT_TRUE((*out.prompt_logprobs)[0].empty()) << "nothing precedes the first token";
    const int64_t vocab = want.dim(1);
    for (size_t p = 1; p < ids.size(); ++p) {
      const float* row = want.data<float>() + (int64_t)(p - 1) * vocab;
      const auto& m = (*out.prompt_logprobs)[p];
      ASSERT_TRUE(m.count(ids[p])) << "position " << p;
      EXPECT_NEAR(m.at(ids[p]), golden_logprob(row, vocab, ids[p]), 1e-4) << "position " << p;
      int32_t rank = 0;
      for (int64_t t = 0; t < vocab; ++t) rank += row[t] >= row[ids[p]] ? 1 : 0;
      EXPECT_EQ(out.prompt_token_ranks[p], rank) << "position " << p;
      EXPECT_GE(m.size(), (size_t)top);
      EXPECT_LE(m.size(), (size_t)top + 1);
    }
  }
}

TEST(PromptLogprobs, MatchTransformersGoldenPrefillLogits) {
  SHARDLM_REQUIRE_FIXTURES();
  expect_golden_prompt_logprobs(cpu_args("tiny-opt"), 3);
}

TEST(PromptLogprobs, ChunkedPrefillGivesTheSame) {
  SHARDLM_REQUIRE_FIXTURES();
  EngineArgs a = cpu_args("tiny-opt");
  a.max_num_batched_tokens = 2;  // every prompt in chunks of two tokens
  a.enable_chunked_prefill = true;
  a.block_size = 2;
  expect_golden_prompt_logprobs(a, 2);
}

TEST(PromptLogprobs, ThePrefixCacheIsNotReadForThem) {
  SHARDLM_REQUIRE_FIXTURES();
  EngineArgs a = cpu_args("tiny-opt");
  a.block_size = 4;
  LLM llm(a);
  std::vector<int32_t> ids{2, 100, 2003, 16, 10, 205, 2977, 9, 5, 232};
  const RequestOutput first = llm.generate({Prompt::from_token_ids(ids)}, greedy(2), false)[0];
  EXPECT_EQ(first.num_cached_tokens, 0);
  const RequestOutput hit = llm.generate({Prompt::from_token_ids(ids)}, greedy(2), false)[0];
  EXPECT_EQ(hit.num_cached_tokens, 8) << "two full blocks of four";
  SamplingParams sp = greedy(2);
  sp.prompt_logprobs = 1;
  const RequestOutput recomputed = llm.generate({Prompt::from_token_ids(ids)}, sp, false)[0];
  EXPECT_EQ(recomputed.num_cached_tokens, 0);
  EXPECT_EQ(recomputed.outputs[0].token_ids, hit.outputs[0].token_ids);
  ASSERT_TRUE(recomputed.prompt_logprobs.has_value());
  for (size_t p = 1; p < ids.size(); ++p) EXPECT_TRUE((*recomputed.prompt_logprobs)[p].count(ids[p])) << p;
}

TEST(PromptLogprobs, StreamedOnceAndFinalOnlyHoldsBackDeltas) {
  SHARDLM_REQUIRE_FIXTURES();
  LLM llm(cpu_args("tiny-opt"));
  SamplingParams sp = greedy(5);
  sp.prompt_logprobs = 2;
  sp.output_kind = RequestOutputKind::FinalOnly;
  std::vector<RequestDelta> deltas;
  GenerateHooks hooks;
  hooks.on_delta = [&](const RequestDelta& d) { deltas.push_back(d); };
  const RequestOutput out = llm.generate({Prompt("Hello there")}, {sp}, hooks)[0];
  ASSERT_EQ(deltas.size(), 1u) << "FINAL_ONLY: one delta, when the request finishes";
  EXPECT_TRUE(deltas[0].finished);
  EXPECT_EQ(deltas[0].sequences.at(0).token_ids, out.outputs[0].token_ids);
  ASSERT_TRUE(deltas[0].prompt_logprobs.has_value());
  EXPECT_EQ(*deltas[0].prompt_logprobs, *out.prompt_logprobs);
  EXPECT_EQ(deltas[0].prompt_token_ids, out.prompt_token_ids);

  sp.output_kind = RequestOutputKind::Delta;
  deltas.clear();
  llm.generate({Prompt("Hello there")}, {sp}, hooks);
  ASSERT_EQ(deltas.size(), 5u);
  EXPECT_TRUE(deltas[0].prompt_logprobs.has_value());
  for (size_t k = 1; k < deltas.size(); ++k) EXPECT_FALSE(deltas[k].prompt_logprobs.has_value());
}

}  // namespace
}  // namespace shardlm::testing
