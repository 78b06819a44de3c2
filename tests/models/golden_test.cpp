// Models against Hugging Face transformers' golden outputs (../shared/fixtures): logits of every prompt
// position, last-position logits, greedy continuations up to the first near-tie, and their log-probabilities.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/fixtures.h"
#include "common/model_harness.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

nlohmann::json read_golden(const std::string& dir) {
  std::ifstream f(dir + "/golden.json");
  return nlohmann::json::parse(f);
}

void check_model(const std::string& name) {
  const std::string dir = model_dir(name);
  LoadedModel m = load_test_model(dir);  // CPU f32 unless SHARDLM_TEST_DEVICE / SHARDLM_TEST_DTYPE say otherwise
  const GoldenTolerance tol = golden_tolerance(m.target);
  auto golden = read_golden(dir);
  auto logits_store = open_safetensors_file(dir + "/golden_logits.safetensors");
  const auto& prompts = golden["prompts"];
  for (size_t i = 0; i < prompts.size(); ++i) {
    SCOPED_TRACE(name + " prompt " + std::to_string(i));
    std::vector<int32_t> prompt = prompts[i]["prompt_token_ids"].get<std::vector<int32_t>>();
    std::vector<int32_t> want = prompts[i]["greedy_token_ids"].get<std::vector<int32_t>>();
    std::vector<double> want_lp = prompts[i]["greedy_logprobs"].get<std::vector<double>>();
    std::vector<double> margin = prompts[i]["top1_minus_top2"].get<std::vector<double>>();

    // One-shot prefill: last-position logits.
    GreedyRun run = run_greedy(m, prompt, (int)want.size(), /*per_token_prefill=*/false);
    Tensor last = logits_store->get("last_logits_" + std::to_string(i));
    EXPECT_LT(rel_error(run.step_logits[0], last.data<float>(), (size_t)last.numel()), tol.logits_rel);

    for (size_t t = 0; t < want.size(); ++t) {
      if (margin[t] < tol.unresolvable) break;
      EXPECT_EQ(run.tokens[t], want[t]) << "step " << t;
      EXPECT_NEAR(run.logprobs[t], want_lp[t], tol.logprob_abs) << "step " << t;
      if (run.tokens[t] != want[t] || margin[t] < tol.near_tie) break;  // stop comparing after a near-tie
    }

    // Every prompt position, fed one token at a time through the KV cache.
    std::string key = "prefill_logits_" + std::to_string(i);
    if (logits_store->has(key)) {
      GreedyRun stepwise = run_greedy(m, prompt, 1, /*per_token_prefill=*/true);
      Tensor all = logits_store->get(key);
      for (int64_t p = 0; p < all.dim(0); ++p)
        EXPECT_LT(rel_error(stepwise.prompt_logits[(size_t)p], all.data<float>() + p * all.dim(1), (size_t)all.dim(1)),
                  tol.logits_rel)
            << "position " << p;
    }
  }
}

}  // namespace

TEST(GoldenOpt, TinyOptSafetensors) {
  SHARDLM_REQUIRE_FIXTURES();
  check_model("tiny-opt");
}

TEST(GoldenOpt, TinyOptPytorchBin) {
  SHARDLM_REQUIRE_FIXTURES();
  check_model("tiny-opt-bin");
}

TEST(GoldenOpt, TinyOptPostLayerNormWithProjections) {
  SHARDLM_REQUIRE_FIXTURES();
  check_model("tiny-opt-postln");
}

TEST(GoldenLlama, TinyLlama) {
  SHARDLM_REQUIRE_FIXTURES();
  check_model("tiny-llama");
}

TEST(GoldenLlama, Stories260KGreedyFromBos) {
  SHARDLM_REQUIRE_FIXTURES();
  const std::string dir = model_dir("stories260K");
  LoadedModel m = load_test_model(dir);
  std::ifstream f(dir + "/golden.json");
  auto golden = nlohmann::json::parse(f);
  std::vector<int32_t> want = golden["ids"].get<std::vector<int32_t>>();
  GreedyRun run = run_greedy(m, {1}, (int)want.size(), false);
  // fp32 must reproduce all 200 tokens. In fp16/bf16 a step whose two best logits lie within the dtype's
  // noise may go either way (a bf16 run met an exact tie, 14.0625 twice, at step 114), so the comparison
  // stops at the first step whose own top-2 margin is below the near-tie bar; it must still cover 20 steps.
  size_t n = want.size();  // steps compared
  const GoldenTolerance tol = golden_tolerance(m.target);
  if (tol.unresolvable > 0) {
    for (size_t t = 0; t < run.step_logits.size() && t < n; ++t) {
      if (top2_margin(run.step_logits[t]) < tol.near_tie) {
        n = t;  // step t may go either way
        break;
      }
    }
    ASSERT_GE(n, 20u) << "a near-tie within the first 20 steps: this dtype cannot check the golden";
  }
  ASSERT_GE(run.tokens.size(), n);
  std::vector<int32_t> got(run.tokens.begin(), run.tokens.begin() + (long)n);
  want.resize(n);
  EXPECT_EQ(got, want);
}
