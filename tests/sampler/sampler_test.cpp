// sample_token, deterministic behaviour: greedy, penalties against hand-computed logits, suppression,
// seeded repeatability, raw logprobs, errors, and top-k/top-p membership on a 150k vocabulary.
#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"

namespace shardlm {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

SamplingParams greedy_params() {
  SamplingParams p;
  p.temperature = 0.0f;
  return p;
}

int32_t sample(const std::vector<float>& logits, const SamplingParams& params,
               const std::vector<int32_t>& prompt = {}, const std::vector<int32_t>& output = {},
               const std::vector<int32_t>& suppressed = {}) {
  Rng rng(0);
  std::vector<float> scratch;
  return sample_token(logits.data(), (int32_t)logits.size(), params, prompt, output, suppressed, rng, scratch)
      .token;
}

// Logits filled by a small LCG of the test's own (not the engine's Rng), roughly uniform in [-8, 8).
std::vector<float> pseudo_random_logits(size_t vocab_size, uint64_t seed) {
  std::vector<float> logits(vocab_size);
  uint64_t x = seed;
  for (float& l : logits) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    l = (float)((double)(x >> 40) / (double)(1ULL << 24) * 16.0 - 8.0);
  }
  return logits;
}

TEST(SamplerGreedy, PicksArgmaxLowestIdOnTies) {
  EXPECT_EQ(sample({0.1f, 3.0f, -2.0f, 2.9f}, greedy_params()), 1);
  EXPECT_EQ(sample({1.0f, 5.0f, 5.0f, 5.0f}, greedy_params()), 1);
  EXPECT_EQ(sample({-kInf, -3.0f, -kInf}, greedy_params()), 1);
  SamplingParams tiny = greedy_params();
  tiny.temperature = 9e-6f;  // below 1e-5 is greedy as well
  tiny.top_k = 1000;         // filters do not matter for greedy
  EXPECT_EQ(sample({0.0f, 1.0f, 0.5f}, tiny), 1);
}

TEST(SamplerGreedy, DoesNotAdvanceRng) {
  std::vector<float> logits{0.0f, 1.0f, 2.0f};
  Rng rng(5);
  const Rng before = rng;
  std::vector<float> scratch;
  sample_token(logits.data(), 3, greedy_params(), {}, {}, {}, rng, scratch);
  EXPECT_EQ(rng, before);
  SamplingParams random;
  sample_token(logits.data(), 3, random, {}, {}, {}, rng, scratch);
  Rng one_draw = before;
  one_draw.uniform();
  EXPECT_EQ(rng, one_draw);  // random sampling consumes exactly one uniform()
}

TEST(SamplerGreedy, DoesNotModifyLogits) {
  std::vector<float> logits{1.0f, -1.0f, 2.0f, 0.5f};
  const std::vector<float> original = logits;
  SamplingParams p;
  p.repetition_penalty = 1.5f;
  p.frequency_penalty = 0.5f;
  p.top_k = 2;
  p.top_p = 0.5f;
  p.min_p = 0.1f;
  sample(logits, p, {0, 1}, {2, 2}, {3});
  EXPECT_EQ(logits, original);
}

// Repetition penalty: positive logits are divided, negative multiplied. Token 0 is in the prompt.
TEST(SamplerPenalties, RepetitionDividesPositiveLogits) {
  SamplingParams p = greedy_params();
  p.repetition_penalty = 1.3f;  // 2.0 / 1.3 = 1.538 > 1.5
  EXPECT_EQ(sample({2.0f, 1.5f}, p, {0}), 0);
  p.repetition_penalty = 1.4f;  // 2.0 / 1.4 = 1.429 < 1.5
  EXPECT_EQ(sample({2.0f, 1.5f}, p, {0}), 1);
  EXPECT_EQ(sample({2.0f, 1.5f}, p, {}, {0}), 1);  // output tokens count too
  EXPECT_EQ(sample({2.0f, 1.5f}, p, {}, {}), 0);   // no penalty for unseen tokens
  EXPECT_EQ(sample({2.0f, 1.5f}, p, {0, 1}), 0);   // both penalised: 1.429 > 1.071
}

TEST(SamplerPenalties, RepetitionMultipliesNegativeLogits) {
  SamplingParams p = greedy_params();
  p.repetition_penalty = 1.1f;  // -1.0 * 1.1 = -1.1 > -1.2
  EXPECT_EQ(sample({-1.0f, -1.2f}, p, {}, {0}), 0);
  p.repetition_penalty = 1.3f;  // -1.0 * 1.3 = -1.3 < -1.2 (dividing would give -0.77 and keep token 0)
  EXPECT_EQ(sample({-1.0f, -1.2f}, p, {}, {0}), 1);
  p.repetition_penalty = 0.5f;  // below 1 favours repeats: -1.2 * 0.5 = -0.6 > -1.0
  EXPECT_EQ(sample({-1.0f, -1.2f}, p, {1}), 1);
}

TEST(SamplerPenalties, FrequencyCountsOutputOccurrences) {
  SamplingParams p = greedy_params();
  p.frequency_penalty = 0.1f;  // 2.0 - 3 * 0.1 = 1.7 > 1.5
  EXPECT_EQ(sample({2.0f, 1.5f}, p, {}, {0, 0, 0}), 0);
  p.frequency_penalty = 0.2f;  // 2.0 - 3 * 0.2 = 1.4 < 1.5
  EXPECT_EQ(sample({2.0f, 1.5f}, p, {}, {0, 0, 0}), 1);
  EXPECT_EQ(sample({2.0f, 1.5f}, p, {}, {0}), 0);       // once: 1.8
  EXPECT_EQ(sample({2.0f, 1.5f}, p, {0, 0, 0, 0}), 0);  // prompt occurrences do not count
  p.frequency_penalty = -0.2f;  // negative: encourages repeats, 1.5 + 3 * 0.2 = 2.1 > 2.0
  EXPECT_EQ(sample({2.0f, 1.5f}, p, {}, {1, 1, 1}), 1);
}

TEST(SamplerPenalties, PresenceCountsOnce) {
  SamplingParams p = greedy_params();
  p.presence_penalty = 0.4f;  // 2.0 - 0.4 = 1.6 > 1.5, however often token 0 appeared
  EXPECT_EQ(sample({2.0f, 1.5f}, p, {}, {0, 0, 0, 0, 0}), 0);
  p.presence_penalty = 0.6f;  // 1.4 < 1.5
  EXPECT_EQ(sample({2.0f, 1.5f}, p, {}, {0}), 1);
  EXPECT_EQ(sample({2.0f, 1.5f}, p, {0}), 0);  // prompt does not count
}

TEST(SamplerPenalties, AllThreeInVllmOrder) {
  // Token 0 (logit 3.0) in the prompt and twice in the output; token 1 (logit 1.0) once in the output.
  // rep 2: 3.0 -> 1.5, 1.0 -> 0.5. freq 0.25: 1.5 - 0.5 = 1.0, 0.5 - 0.25 = 0.25. presence 0.3: 0.7, -0.05.
  // Token 2 (logit 0.8) untouched; token 3 (logit 0.65) untouched.
  // Result 0.7 vs 0.8 vs -0.05 vs 0.65: token 2 wins. If frequency/presence came before the repetition
  // penalty token 0 would get (3.0 - 0.5 - 0.3) / 2 = 1.1 and win.
  SamplingParams p = greedy_params();
  p.repetition_penalty = 2.0f;
  p.frequency_penalty = 0.25f;
  p.presence_penalty = 0.3f;
  EXPECT_EQ(sample({3.0f, 1.0f, 0.8f, 0.65f}, p, {0}, {0, 1, 0}), 2);
  p.presence_penalty = 0.05f;  // token 0: 1.0 - 0.05 = 0.95 > 0.8
  EXPECT_EQ(sample({3.0f, 1.0f, 0.8f, 0.65f}, p, {0}, {0, 1, 0}), 0);
}

TEST(SamplerSuppression, SuppressedIdsAreNeverChosen) {
  SamplingParams greedy = greedy_params();
  EXPECT_EQ(sample({5.0f, 1.0f, 4.0f}, greedy, {}, {}, {0}), 2);
  EXPECT_EQ(sample({5.0f, 1.0f, 4.0f}, greedy, {}, {}, {0, 2, 99, -1}), 1);  // out-of-vocab ids ignored
  SamplingParams random;
  std::vector<float> logits{5.0f, 1.0f, 4.0f, 4.5f};
  Rng rng(11);
  std::vector<float> scratch;
  std::set<int32_t> drawn;
  for (int i = 0; i < 2000; ++i)
    drawn.insert(sample_token(logits.data(), 4, random, {}, {}, {0, 3}, rng, scratch).token);
  EXPECT_EQ(drawn, (std::set<int32_t>{1, 2}));
}

TEST(SamplerLogitsProcessors, LogitBiasBeforePenaltiesAsVllm) {
  SamplingParams p = greedy_params();
  p.logit_bias = {{2, 2.5f}};  // 1.0 + 2.5 = 3.5 > 3.0
  EXPECT_EQ(sample({3.0f, 0.0f, 1.0f}, p), 2);
  p.logit_bias = {{2, 1.5f}, {0, -0.1f}};  // 2.5 vs 2.9
  EXPECT_EQ(sample({3.0f, 0.0f, 1.0f}, p), 0);
  // vLLM V1 biases before the penalties: token 2 (in the prompt) gets (1 + 4.5) / 2 = 2.75 < 3, so token 0
  // wins; penalising first would give 1 / 2 + 4.5 = 5 and token 2.
  p.logit_bias = {{2, 4.5f}};
  p.repetition_penalty = 2.0f;
  EXPECT_EQ(sample({3.0f, 0.0f, 1.0f}, p, {2}), 0);
}

TEST(SamplerLogitsProcessors, AllowedTokenIdsAloneCanBeSampled) {
  SamplingParams greedy = greedy_params();
  greedy.allowed_token_ids = std::vector<int32_t>{1, 3};
  EXPECT_EQ(sample({5.0f, 1.0f, 4.0f, 2.0f}, greedy), 3);
  SamplingParams random;
  random.allowed_token_ids = std::vector<int32_t>{1, 2};
  std::vector<float> logits{5.0f, 1.0f, 4.0f, 4.5f};
  Rng rng(4);
  std::vector<float> scratch;
  std::set<int32_t> drawn;
  for (int i = 0; i < 2000; ++i) drawn.insert(sample_token(logits.data(), 4, random, {}, {}, {}, rng, scratch).token);
  EXPECT_EQ(drawn, (std::set<int32_t>{1, 2}));
  // The logprob stays the raw one (vLLM V1's raw_logprobs), whatever the processors did.
  random.logprobs = 0;
  const SampleResult r = sample_token(logits.data(), 4, random, {}, {}, {}, rng, scratch);
  double z = 0;
  for (float l : logits) z += std::exp((double)l);
  EXPECT_NEAR(r.logprob, (double)logits[(size_t)r.token] - std::log(z), 1e-5);
}

TEST(SamplerLogprobs, RankCountsTokensAtLeastAsProbable) {
  // vLLM's rank: (logprobs >= the token's).sum(), itself included, ties counted.
  const std::vector<float> logits{1.0f, 3.0f, 2.0f, 3.0f, -1.0f};
  SamplingParams p = greedy_params();
  p.logprobs = 0;
  p.allowed_token_ids = std::vector<int32_t>{2};
  Rng rng(0);
  std::vector<float> scratch;
  EXPECT_EQ(sample_token(logits.data(), 5, p, {}, {}, {}, rng, scratch).rank, 3);
  p.allowed_token_ids = std::vector<int32_t>{1};
  EXPECT_EQ(sample_token(logits.data(), 5, p, {}, {}, {}, rng, scratch).rank, 2);  // tied with token 3
  p.allowed_token_ids = std::vector<int32_t>{4};
  EXPECT_EQ(sample_token(logits.data(), 5, p, {}, {}, {}, rng, scratch).rank, 5);
  const PositionLogprobs pl = position_logprobs(logits.data(), 5, 0, 2, p);
  EXPECT_EQ(pl.rank, 4);
  ASSERT_EQ(pl.top.size(), 2u);
  EXPECT_EQ(pl.top[0].token, 1);
  EXPECT_EQ(pl.top[1].token, 3);
  double z = 0;
  for (float l : logits) z += std::exp((double)l);
  EXPECT_NEAR(pl.logprob, 1.0 - std::log(z), 1e-6);
}

TEST(SamplerDeterminism, SameSeedSameSequenceDifferentSeedDiffers) {
  const std::vector<float> logits = pseudo_random_logits(5000, 3);
  SamplingParams p;
  p.temperature = 0.9f;
  p.top_k = 200;
  p.top_p = 0.95f;
  p.min_p = 0.001f;
  p.repetition_penalty = 1.1f;
  auto run = [&](uint64_t seed) {
    Rng rng(seed);
    std::vector<float> scratch;
    std::vector<int32_t> output;
    for (int i = 0; i < 1000; ++i)
      output.push_back(
          sample_token(logits.data(), (int32_t)logits.size(), p, {1, 2, 3}, output, {}, rng, scratch).token);
    return output;
  };
  const std::vector<int32_t> first = run(1234);
  EXPECT_EQ(first, run(1234));
  EXPECT_NE(first, run(1235));
  EXPECT_GT(std::set<int32_t>(first.begin(), first.end()).size(), 10u);  // it really samples
}

TEST(SamplerLogprobs, RawLogSoftmaxAndSortedTopList) {
  const std::vector<float> logits{1.0f, 3.0f, -0.5f, 3.0f, 2.0f, -kInf, 0.25f};
  double sum = 0.0;
  for (float l : logits) sum += std::exp((double)l);
  const double log_z = std::log(sum);
  SamplingParams p;
  p.temperature = 0.5f;  // neither temperature nor penalties touch the returned logprobs
  p.repetition_penalty = 1.7f;
  p.presence_penalty = 1.0f;
  p.logprobs = 3;
  Rng rng(99);
  std::vector<float> scratch;
  for (int i = 0; i < 50; ++i) {
    SampleResult r = sample_token(logits.data(), 7, p, {1}, {3, 4}, {}, rng, scratch);
    ASSERT_NE(r.token, 5);
    EXPECT_NEAR(r.logprob, (double)logits[r.token] - log_z, 1e-5);
    ASSERT_EQ(r.top.size(), 3u);
    EXPECT_EQ(r.top[0].token, 1);  // tie 3.0 / 3.0: lower id first
    EXPECT_EQ(r.top[1].token, 3);
    EXPECT_EQ(r.top[2].token, 4);
    EXPECT_NEAR(r.top[0].logprob, 3.0 - log_z, 1e-5);
    EXPECT_NEAR(r.top[2].logprob, 2.0 - log_z, 1e-5);
  }
  p.logprobs = 0;
  EXPECT_TRUE(sample_token(logits.data(), 7, p, {}, {}, {}, rng, scratch).top.empty());
  p.logprobs.reset();
  EXPECT_TRUE(sample_token(logits.data(), 7, p, {}, {}, {}, rng, scratch).top.empty());
  p.logprobs = 100;  // more than the vocabulary: all of it
  EXPECT_EQ(sample_token(logits.data(), 7, p, {}, {}, {}, rng, scratch).top.size(), 7u);
  p.logprobs = -1;
  SampleResult all = sample_token(logits.data(), 7, p, {}, {}, {}, rng, scratch);
  ASSERT_EQ(all.top.size(), 7u);
  const std::vector<int32_t> order{1, 3, 4, 0, 6, 2, 5};
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(all.top[i].token, order[i]);
  EXPECT_EQ(all.top[6].logprob, -kInf);
}

TEST(SamplerLogprobs, GreedyLogprobIsRawEvenWhenPenalised) {
  SamplingParams p = greedy_params();
  p.repetition_penalty = 2.0f;
  p.logprobs = 1;
  std::vector<float> logits{2.0f, 1.5f};
  Rng rng(0);
  std::vector<float> scratch;
  SampleResult r = sample_token(logits.data(), 2, p, {0}, {}, {}, rng, scratch);
  EXPECT_EQ(r.token, 1);
  const double log_z = std::log(std::exp(2.0) + std::exp(1.5));
  EXPECT_NEAR(r.logprob, 1.5 - log_z, 1e-6);
  ASSERT_EQ(r.top.size(), 1u);
  EXPECT_EQ(r.top[0].token, 0);
  EXPECT_NEAR(r.top[0].logprob, 2.0 - log_z, 1e-6);
}

TEST(SamplerErrors, NaNAndImpossibleInputsThrow) {
  SamplingParams p;
  auto message = [&](const std::vector<float>& logits, const std::vector<int32_t>& prompt,
                     const std::vector<int32_t>& suppressed) -> std::string {
    try {
      sample(logits, p, prompt, {}, suppressed);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message({1.0f, NAN, 0.0f}, {}, {}).find("NaN"), std::string::npos);
  EXPECT_NE(message({1.0f, kInf}, {}, {}).find("infinite"), std::string::npos);
  EXPECT_NE(message({-kInf, -kInf}, {}, {}).find("-inf"), std::string::npos);
  EXPECT_NE(message({1.0f, 2.0f}, {}, {0, 1}).find("suppressed"), std::string::npos);
  EXPECT_NE(message({1.0f, 2.0f}, {7}, {}).find("prompt token id 7"), std::string::npos);
  Rng rng(0);
  std::vector<float> scratch;
  EXPECT_THROW(sample_token(nullptr, 0, p, {}, {}, {}, rng, scratch), Error);
}

TEST(SamplerFilters, TopKOneAndTinyTopPAndMinPOneAreArgmax) {
  const std::vector<float> logits = pseudo_random_logits(1000, 17);
  const int32_t best = (int32_t)(std::max_element(logits.begin(), logits.end()) - logits.begin());
  SamplingParams k1, p_tiny, min_p1;
  k1.top_k = 1;
  p_tiny.top_p = 1e-6f;
  min_p1.min_p = 1.0f;
  Rng rng(4);
  std::vector<float> scratch;
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(sample_token(logits.data(), 1000, k1, {}, {}, {}, rng, scratch).token, best);
    EXPECT_EQ(sample_token(logits.data(), 1000, p_tiny, {}, {}, {}, rng, scratch).token, best);
    EXPECT_EQ(sample_token(logits.data(), 1000, min_p1, {}, {}, {}, rng, scratch).token, best);
  }
}

TEST(SamplerFilters, TopKKeepsTiesAtTheBoundary) {
  // vLLM masks logits below the k-th largest value, so all tokens tied with it stay.
  const std::vector<float> logits{1.0f, 0.0f, 1.0f, 1.0f, -1.0f};
  SamplingParams p;
  p.top_k = 2;
  Rng rng(6);
  std::vector<float> scratch;
  std::set<int32_t> drawn;
  for (int i = 0; i < 1000; ++i)
    drawn.insert(sample_token(logits.data(), 5, p, {}, {}, {}, rng, scratch).token);
  EXPECT_EQ(drawn, (std::set<int32_t>{0, 2, 3}));
}

// On a Qwen-sized vocabulary, every draw lies in the top-k / top-p set computed here by a full sort.
TEST(SamplerFilters, LargeVocabularyDrawsStayInReferenceSet) {
  const int32_t vocab_size = 151936;
  std::vector<float> logits = pseudo_random_logits(vocab_size, 29);
  for (int i = 0; i < 40; ++i) logits[(size_t)i * 3001] = 9.0f + 0.05f * (float)i;  // a clear head
  const float temperature = 0.8f;
  std::vector<int32_t> order(vocab_size);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  std::vector<double> probs(vocab_size);
  for (int32_t i = 0; i < vocab_size; ++i)
    probs[i] = std::exp(((double)logits[i] - (double)logits[order[0]]) / (double)temperature);
  auto top_p_set = [&](size_t k_limit, double top_p) {
    double mass_k = 0.0;
    for (size_t i = 0; i < k_limit; ++i) mass_k += probs[order[i]];
    std::set<int32_t> kept;
    double cum = 0.0;
    for (size_t i = 0; i < k_limit && cum < top_p * mass_k; ++i) {
      cum += probs[order[i]];
      kept.insert(order[i]);
    }
    return kept;
  };
  struct Case {
    int top_k;
    float top_p;
  };
  for (Case c : {Case{50, 1.0f}, Case{0, 0.9f}, Case{1000, 0.5f}, Case{0, 0.3f}}) {
    SamplingParams p;
    p.temperature = temperature;
    p.top_k = c.top_k;
    p.top_p = c.top_p;
    const std::set<int32_t> allowed = top_p_set(c.top_k > 0 ? (size_t)c.top_k : (size_t)vocab_size, c.top_p);
    ASSERT_FALSE(allowed.empty());
    Rng rng(77);
    std::vector<float> scratch;
    std::set<int32_t> drawn;
    for (int i = 0; i < 100; ++i) {
      int32_t token = sample_token(logits.data(), vocab_size, p, {}, {}, {}, rng, scratch).token;
      ASSERT_TRUE(allowed.count(token)) << "top_k " << c.top_k << " top_p " << c.top_p << " drew " << token;
      drawn.insert(token);
    }
    EXPECT_GT(drawn.size(), 1u);
  }
}

}  // namespace
}  // namespace shardlm
