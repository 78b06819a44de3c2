// The Llama-family variant checkpoints under tests/data/llama_family (made by
// scripts/dev/make_llama_family_goldens.py with transformers) and their goldens: which variants exist, which
// TP sizes their heads allow, and the golden comparison rules shared by the model, engine and TP tests.
#pragma once
#include <gtest/gtest.h>

#include <fstream>
#include <ostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/fixtures.h"

namespace shardlm::testing {

struct LlamaVariant {
  std::string name;     // folder under tests/data/llama_family
  std::vector<int> tp;  // TP sizes (> 1) its head counts divide
};
inline void PrintTo(const LlamaVariant& v, std::ostream* os) { *os << v.name; }

// Keep in step with VARIANTS in scripts/dev/make_llama_family_goldens.py.
inline const std::vector<LlamaVariant>& llama_variants() {
  static const std::vector<LlamaVariant> v = {
      {"llama3-rope-old-spelling", {2, 4}},  // bf16, v4 config spelling, MHA without num_key_value_heads
      {"llama3-rope-type-key", {2}},         // bf16, rope_scaling {"type": "llama3"}, Llama 3.1's 8k -> 128k
      {"llama-tied-mqa", {2, 4}},            // tied embeddings, 1 KV head (replicated), head_dim 32 != 64/4
      {"qwen2-bias", {2, 4}},                // Qwen2 q/k/v biases, tied, bf16, vocab 500 (padded shards)
      {"qwen3-qknorm", {2}},                 // Qwen3 q/k RMSNorm, head_dim 32, bf16
      {"mistral", {2, 4}},                   // 8 heads of 8 over 2 KV heads, sliding window beyond the test
      {"llama-linear-rope", {2}},            // linear rope scaling, attention and MLP biases
      {"llama-dynamic-rope", {2}},           // dynamic NTK (a no-op within max_position_embeddings)
      {"llama-yarn-rope", {2}},              // yarn: scaled frequencies and attention factor
      {"llama-6head-kv3", {3}},              // 6 heads over 3 KV heads, hidden 96
  };
  return v;
}

inline std::string llama_variant_dir(const std::string& name) {
  return std::string(SHARDLM_SOURCE_DIR) + "/tests/data/llama_family/" + name;
}

// These checkpoints have no tokenizer files; stories260K's 512-token SentencePiece vocabulary serves them.
inline std::string llama_variant_tokenizer() { return model_dir("stories260K"); }

// gtest parameter names allow only [A-Za-z0-9_].
inline std::string param_name(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (c == '-') c = '_';
  return out;
}

struct GoldenPrompt {
  std::vector<int32_t> prompt, tokens;
  std::vector<double> logprobs, margins;  // margins: top1 - top2 logit at each step
};

inline std::vector<GoldenPrompt> read_llama_golden(const std::string& name) {
  std::ifstream f(llama_variant_dir(name) + "/golden.json");
  nlohmann::json g = nlohmann::json::parse(f);
  std::vector<GoldenPrompt> out;
  for (const auto& p : g["prompts"]) {
    out.push_back({p["prompt_token_ids"].get<std::vector<int32_t>>(), p["greedy_token_ids"].get<std::vector<int32_t>>(),
                   p["greedy_logprobs"].get<std::vector<double>>(), p["top1_minus_top2"].get<std::vector<double>>()});
  }
  return out;
}

// Golden rule for greedy continuations: tokens equal and log-probabilities within `logprob_tol` at every step
// up to and including the first whose golden margin is below 1e-2 (where another valid rounding may pick the
// other token); stop comparing after it. `logprob_of(t)` returns our log-probability of our token at step t.
template <typename LogprobOf>
void expect_greedy_matches(const GoldenPrompt& want, const std::vector<int32_t>& got, LogprobOf logprob_of,
                           double logprob_tol) {
  constexpr double kNearTie = 1e-2;
  ASSERT_EQ(got.size(), want.tokens.size());
  for (size_t t = 0; t < want.tokens.size(); ++t) {
    EXPECT_EQ(got[t], want.tokens[t]) << "step " << t;
    EXPECT_NEAR(logprob_of(t), want.logprobs[t], logprob_tol) << "step " << t;
    if (got[t] != want.tokens[t] || want.margins[t] < kNearTie) break;
  }
}

}  // namespace shardlm::testing
