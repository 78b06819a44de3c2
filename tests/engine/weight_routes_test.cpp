// Weight routes (layers/load_context.h): every parameter row of a loaded model is written by exactly one route
// (or is vocabulary padding), and reload_weights() rewrites the parameters in place from the checkpoint so the
// model computes exactly what it did before its weights were wiped.
#include <gtest/gtest.h>

#include <cstring>

#include "engine/engine_util.h"
#include "engine/llm_engine.h"

namespace shardlm::testing {
namespace {

class WeightRoutes : public ::testing::TestWithParam<const char*> {};

TEST_P(WeightRoutes, CoverEveryParameterRowOnce) {
  SHARDLM_REQUIRE_FIXTURES();
  LLM llm(cpu_args(GetParam()));
  const LoadContext& ctx = llm.engine().load_context();
  const auto& params = ctx.parameters();
  std::vector<std::vector<int>> covered(params.size());
  for (size_t i = 0; i < params.size(); ++i) covered[i].assign(params[i].local.dim(0), 0);
  for (const WeightRoute& r : ctx.routes()) {
    ASSERT_LT(r.param_index, params.size()) << r.source;
    const Tensor& p = params[r.param_index].local;
    const int64_t rows = r.slice == WeightRoute::Slice::Rows ? r.len : r.full_shape[0];
    ASSERT_LE(r.dst_row + rows, p.dim(0)) << r.source;
    if (r.slice == WeightRoute::Slice::Cols) EXPECT_EQ(p.dim(1), r.len) << r.source;
    for (int64_t row = r.dst_row; row < r.dst_row + rows; ++row) covered[r.param_index][row]++;
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const bool is_vocab = params[i].name.find("embed_tokens") != std::string::npos ||
                          params[i].name.find("lm_head") != std::string::npos;
    for (size_t row = 0; row < covered[i].size(); ++row) {
      // Rows past the real vocabulary are padding that no checkpoint tensor fills.
      if (is_vocab && covered[i][row] == 0 && row >= (size_t)llm.vocab_size()) continue;
      ASSERT_EQ(covered[i][row], 1) << params[i].name << " row " << row;
    }
  }
}

TEST_P(WeightRoutes, ReloadRestoresWipedWeightsInPlace) {
  SHARDLM_REQUIRE_FIXTURES();
  EngineArgs args = cpu_args(GetParam());
  args.enable_prefix_caching = false;
  LLM llm(args);
  const std::vector<Prompt> prompts = {Prompt::from_token_ids({1, 300, 301, 302}), Prompt::from_token_ids({1, 5, 9})};
  const auto before = llm.generate(prompts, greedy(8), false);
  std::vector<const void*> addresses;
  for (const auto& p : llm.engine().model().parameters()) {
    addresses.push_back(p.local.raw());
    std::memset(p.local.raw(), 0, p.local.nbytes());
  }
  const auto wiped = llm.generate(prompts, greedy(8), false);
  EXPECT_NE(wiped[0].outputs[0].token_ids, before[0].outputs[0].token_ids);
  llm.reload_weights();
  const auto after = llm.generate(prompts, greedy(8), false);
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(after[i].outputs[0].token_ids, before[i].outputs[0].token_ids);
  size_t i = 0;
  for (const auto& p : llm.engine().model().parameters()) EXPECT_EQ(p.local.raw(), addresses[i++]) << p.name;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, WeightRoutes, ::testing::Values("tiny-opt", "tiny-opt-bin", "tiny-llama"));

}  // namespace
}  // namespace shardlm::testing
