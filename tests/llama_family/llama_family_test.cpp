// Llama-family variants (llama3/linear/dynamic/yarn rope scaling, v4 and v5 config spellings, tied embeddings,
// MQA, explicit head_dim, Qwen2 biases, Qwen3 q/k norms, Mistral) against transformers' goldens at the model
// level: last-position logits after a one-shot prefill, every prompt position through the KV cache one token at
// a time, and greedy continuations with their log-probabilities.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>

#include "common/model_harness.h"
#include "llama_family_util.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

// fp32 CPU arithmetic against transformers' fp32 arithmetic on the same weights; rounding the rotary inverse
// frequencies differently alone moves these logits by 3e-5..1e-3 (see tests/data/llama_family/README.md).
constexpr double kLogitsRelTol = 1e-4;
constexpr double kLogprobAbsTol = 1e-3;

class LlamaFamilyModel : public ::testing::TestWithParam<LlamaVariant> {};

TEST_P(LlamaFamilyModel, LogitsAndGreedyMatchTransformers) {
  const std::string name = GetParam().name, dir = llama_variant_dir(name);
  LoadedModel m = load_cpu_model(dir);
  auto logits_store = open_safetensors_file(dir + "/golden_logits.safetensors");
  std::vector<GoldenPrompt> golden = read_llama_golden(name);
  ASSERT_EQ(golden.size(), 4u);
  double worst = 0;
  for (size_t i = 0; i < golden.size(); ++i) {
    SCOPED_TRACE(name + " prompt " + std::to_string(i));
    const GoldenPrompt& g = golden[i];
    GreedyRun run = run_greedy(*m.model, g.prompt, (int)g.tokens.size(), /*per_token_prefill=*/false);
    Tensor last = logits_store->get("last_logits_" + std::to_string(i));
    ASSERT_EQ(last.numel(), m.model->config().vocab_size);
    double err = rel_error(run.step_logits[0], last.data<float>(), (size_t)last.numel());
    worst = std::max(worst, err);
    EXPECT_LT(err, kLogitsRelTol);
    expect_greedy_matches(g, run.tokens, [&](size_t t) { return run.logprobs[t]; }, kLogprobAbsTol);

    const std::string key = "prefill_logits_" + std::to_string(i);
    if (!logits_store->has(key)) continue;
    GreedyRun stepwise = run_greedy(*m.model, g.prompt, 1, /*per_token_prefill=*/true);
    Tensor all = logits_store->get(key);
    ASSERT_EQ(all.dim(0), (int64_t)g.prompt.size());
    for (int64_t p = 0; p < all.dim(0); ++p) {
      err = rel_error(stepwise.prompt_logits[(size_t)p], all.data<float>() + p * all.dim(1), (size_t)all.dim(1));
      worst = std::max(worst, err);
      EXPECT_LT(err, kLogitsRelTol) << "position " << p;
    }
  }
  std::cout << "[ llama_family ] " << name << ": max logits relative error vs transformers " << worst << "\n";
}

INSTANTIATE_TEST_SUITE_P(Variants, LlamaFamilyModel, ::testing::ValuesIn(llama_variants()),
                         [](const auto& info) { return param_name(info.param.name); });

// The checkpoints say what they claim to exercise (a regenerated folder that lost its point fails here).
TEST(LlamaFamilyData, ConfigsExerciseTheirFeatures) {
  auto cfg = [](const std::string& name) { return load_model_config(llama_variant_dir(name)); };
  ModelConfig old = cfg("llama3-rope-old-spelling");
  EXPECT_TRUE(old.json.contains("torch_dtype") && old.json.contains("rope_scaling") && !old.json.contains("dtype"));
  EXPECT_EQ(old.json["rope_scaling"]["rope_type"], "llama3");
  EXPECT_FALSE(old.json.contains("num_key_value_heads"));
  EXPECT_EQ(old.dtype, DType::BF16);
  ModelConfig type_key = cfg("llama3-rope-type-key");
  EXPECT_EQ(type_key.json["rope_scaling"]["type"], "llama3");
  EXPECT_EQ(type_key.max_position_embeddings, 131072);
  EXPECT_EQ(cfg("qwen2-bias").vocab_size % 64, 500 % 64);
  ModelConfig mqa = cfg("llama-tied-mqa");
  EXPECT_EQ(mqa.num_kv_heads, 1);
  EXPECT_EQ(mqa.head_dim, 32);
  EXPECT_NE(mqa.head_dim * mqa.num_heads, mqa.hidden_size);
  EXPECT_TRUE(mqa.json["tie_word_embeddings"].get<bool>());
  EXPECT_FALSE(WeightStore::open(llama_variant_dir("llama-tied-mqa"))->has("lm_head.weight"));
  EXPECT_TRUE(WeightStore::open(llama_variant_dir("qwen2-bias"))->has("model.layers.0.self_attn.q_proj.bias"));
  EXPECT_TRUE(WeightStore::open(llama_variant_dir("qwen3-qknorm"))->has("model.layers.1.self_attn.k_norm.weight"));
  EXPECT_TRUE(WeightStore::open(llama_variant_dir("llama-linear-rope"))->has("model.layers.0.mlp.down_proj.bias"));
  EXPECT_EQ(cfg("llama-yarn-rope").json["rope_parameters"]["rope_type"], "yarn");
  EXPECT_EQ(cfg("llama-dynamic-rope").json["rope_scaling"]["type"], "dynamic");
  EXPECT_EQ(cfg("llama-6head-kv3").num_heads, 6);
}

}  // namespace
