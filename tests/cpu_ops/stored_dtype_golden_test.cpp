// Models whose f16 weights stay f16 on the CPU (ParamDtypePolicy::KeepStoredMatrices, the engine's default
// there) against transformers' goldens: the kernels widen in registers, which must be the same math as
// widening at load. Also checks which parameters stay f16 and which are widened.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/fixtures.h"
#include "common/model_harness.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

constexpr double kLogitsRelTol = 1e-4;  // the bar of tests/models/golden_test.cpp
constexpr double kLogprobAbsTol = 1e-3;
constexpr double kNearTie = 1e-2;

LoadedModel load_keeping_stored_dtype(const std::string& dir) {
  LoadedModel m;
  m.weights = WeightStore::open(dir);
  ModelConfig cfg = load_model_config(dir);
  m.ctx = std::make_unique<LoadContext>(*m.weights, 0, 1, nullptr, Device::CPU, DType::F32,
                                        ParamDtypePolicy::KeepStoredMatrices);
  m.model = create_model(cfg, *m.ctx);
  return m;
}

void check_against_golden(const std::string& name) {
  const std::string dir = model_dir(name);
  LoadedModel m = load_keeping_stored_dtype(dir);
  int64_t f16_matrices = 0;
  for (const auto& p : m.model->parameters()) {
    if (p.local.ndim() >= 2) {
      EXPECT_EQ(p.local.dtype(), DType::F16) << p.name;
      ++f16_matrices;
    } else {
      EXPECT_EQ(p.local.dtype(), DType::F32) << p.name;
    }
  }
  EXPECT_GT(f16_matrices, 0);

  std::ifstream f(dir + "/golden.json");
  auto golden = nlohmann::json::parse(f);
  auto logits_store = open_safetensors_file(dir + "/golden_logits.safetensors");
  const auto& prompts = golden["prompts"];
  for (size_t i = 0; i < prompts.size(); ++i) {
    SCOPED_TRACE(name + " prompt " + std::to_string(i));
    std::vector<int32_t> prompt = prompts[i]["prompt_token_ids"].get<std::vector<int32_t>>();
    std::vector<int32_t> want = prompts[i]["greedy_token_ids"].get<std::vector<int32_t>>();
    std::vector<double> want_lp = prompts[i]["greedy_logprobs"].get<std::vector<double>>();
    std::vector<double> margin = prompts[i]["top1_minus_top2"].get<std::vector<double>>();
    GreedyRun run = run_greedy(*m.model, prompt, (int)want.size(), /*per_token_prefill=*/false);
    Tensor last = logits_store->get("last_logits_" + std::to_string(i));
    EXPECT_LT(rel_error(run.step_logits[0], last.data<float>(), (size_t)last.numel()), kLogitsRelTol);
    for (size_t t = 0; t < want.size(); ++t) {
      EXPECT_EQ(run.tokens[t], want[t]) << "step " << t;
      EXPECT_NEAR(run.logprobs[t], want_lp[t], kLogprobAbsTol) << "step " << t;
      if (run.tokens[t] != want[t] || margin[t] < kNearTie) break;
    }
  }
}

TEST(StoredDtypeGolden, TinyLlamaWithF16Weights) {
  SHARDLM_REQUIRE_FIXTURES();
  check_against_golden("tiny-llama");
}

TEST(StoredDtypeGolden, TinyOptWithF16WeightsAndF32Biases) {
  SHARDLM_REQUIRE_FIXTURES();
  check_against_golden("tiny-opt");
}

}  // namespace
