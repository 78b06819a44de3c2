// Statistical tests of sample_token: with a fixed seed, 20k draws on a 10-token vocabulary must pass a
// chi-square goodness-of-fit test (critical value at p = 1e-4, i.e. a 1-in-10,000 false-failure rate for
// an arbitrary seed) against the target distribution computed here independently, and tokens the filters
// exclude must never be drawn.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <numeric>
#include <vector>

#include "chi_square.h"
#include "engine/sampler.h"

namespace shardlm {
namespace {

using testing::chi_square;
using testing::chi_square_critical;

constexpr int kDraws = 20000;
constexpr double kFalseFailureRate = 1e-4;

// Ids deliberately not in logit order.
const std::vector<float> kLogits{0.3f, 2.0f, -1.1f, 1.2f, 0.9f, -0.4f, 1.6f, -2.2f, 0.1f, 0.6f};

// vLLM's pipeline written out plainly in double: softmax(l / T), min_p relative to the top probability,
// top_k by logit, top_p over the renormalised survivors, renormalise. Fails the test when a boundary is
// within `margin` (the sampler's float rounding could then legitimately decide it the other way).
std::vector<double> target_distribution(const std::vector<double>& logits, double temperature, int top_k,
                                        double top_p, double min_p) {
  const size_t n = logits.size();
  const double max_logit = *std::max_element(logits.begin(), logits.end());
  std::vector<double> probs(n);
  for (size_t i = 0; i < n; ++i) probs[i] = std::exp((logits[i] - max_logit) / temperature);
  const double z = std::accumulate(probs.begin(), probs.end(), 0.0);
  for (double& p : probs) p /= z;
  const double max_prob = *std::max_element(probs.begin(), probs.end());
  const double margin = 1e-3;

  std::vector<bool> keep(n, true);
  for (size_t i = 0; i < n; ++i) {
    if (min_p > 0.0) {
      EXPECT_GT(std::fabs(probs[i] / max_prob - min_p), margin) << "min_p boundary too close";
    }
    if (probs[i] < min_p * max_prob) keep[i] = false;
  }
  std::vector<size_t> order;  // surviving ids, most probable first
  for (size_t i = 0; i < n; ++i)
    if (keep[i]) order.push_back(i);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return logits[a] > logits[b]; });
  if (top_k > 0 && (size_t)top_k < order.size()) {
    for (size_t j = (size_t)top_k; j < order.size(); ++j) keep[order[j]] = false;
    order.resize((size_t)top_k);
  }
  if (top_p < 1.0) {
    double kept_mass = 0.0;
    for (size_t id : order) kept_mass += probs[id];
    double cum = 0.0;
    size_t j = 0;
    for (; j < order.size() && cum < top_p; ++j) {
      cum += probs[order[j]] / kept_mass;
      EXPECT_GT(std::fabs(cum - top_p), margin) << "top_p boundary too close";
    }
    for (; j < order.size(); ++j) keep[order[j]] = false;
  }
  double kept_mass = 0.0;
  for (size_t i = 0; i < n; ++i) kept_mass += keep[i] ? probs[i] : 0.0;
  std::vector<double> target(n);
  for (size_t i = 0; i < n; ++i) target[i] = keep[i] ? probs[i] / kept_mass : 0.0;
  return target;
}

std::vector<double> as_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

std::vector<int64_t> draw_counts(const std::vector<float>& logits, const SamplingParams& params,
                                 uint64_t seed, const std::vector<int32_t>& prompt = {},
                                 const std::vector<int32_t>& output = {},
                                 const std::vector<int32_t>& suppressed = {}) {
  std::vector<int64_t> counts(logits.size(), 0);
  Rng rng(seed);
  std::vector<float> scratch;
  for (int i = 0; i < kDraws; ++i)
    ++counts[sample_token(logits.data(), (int32_t)logits.size(), params, prompt, output, suppressed, rng,
                          scratch)
                 .token];
  return counts;
}

// Excluded tokens never drawn; chi-square below the critical value.
void expect_fits(const std::vector<int64_t>& counts, const std::vector<double>& target) {
  for (size_t i = 0; i < counts.size(); ++i)
    if (target[i] == 0.0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " is excluded but was drawn";
    }
  const auto fit = chi_square(counts, target);
  ASSERT_GE(fit.dof, 1);
  const double critical = chi_square_critical(fit.dof, kFalseFailureRate);
  EXPECT_LT(fit.statistic, critical) << "dof " << fit.dof;
  std::cout << "[ chi-square ] statistic " << fit.statistic << ", dof " << fit.dof << ", critical "
            << critical << "\n";
}

int kept_count(const std::vector<double>& target) {
  return (int)std::count_if(target.begin(), target.end(), [](double p) { return p > 0.0; });
}

TEST(ChiSquareHelper, MatchesPublishedCriticalValues) {
  EXPECT_NEAR(chi_square_critical(1, 0.05), 3.841, 1e-3);
  EXPECT_NEAR(chi_square_critical(4, 0.01), 13.277, 1e-3);
  EXPECT_NEAR(chi_square_critical(9, 0.001), 27.877, 1e-3);
  EXPECT_NEAR(chi_square_critical(20, 0.05), 31.410, 1e-3);
}

TEST(SamplerStatistics, TemperatureOnly) {
  SamplingParams p;
  p.temperature = 0.7f;
  const auto counts = draw_counts(kLogits, p, 101);
  const auto target = target_distribution(as_double(kLogits), 0.7, 0, 1.0, 0.0);
  EXPECT_EQ(kept_count(target), 10);
  expect_fits(counts, target);
  // The test has power: the same counts are far from the T = 1 distribution.
  const auto wrong = chi_square(counts, target_distribution(as_double(kLogits), 1.0, 0, 1.0, 0.0));
  EXPECT_GT(wrong.statistic, chi_square_critical(wrong.dof, kFalseFailureRate));
}

TEST(SamplerStatistics, TopK) {
  SamplingParams p;
  p.top_k = 3;
  const auto target = target_distribution(as_double(kLogits), 1.0, 3, 1.0, 0.0);
  EXPECT_EQ(kept_count(target), 3);
  expect_fits(draw_counts(kLogits, p, 202), target);
}

TEST(SamplerStatistics, TopP) {
  SamplingParams p;
  p.top_p = 0.8f;
  const auto target = target_distribution(as_double(kLogits), 1.0, 0, 0.8, 0.0);
  EXPECT_EQ(kept_count(target), 5);
  expect_fits(draw_counts(kLogits, p, 303), target);
}

TEST(SamplerStatistics, MinP) {
  SamplingParams p;
  p.min_p = 0.2f;
  const auto target = target_distribution(as_double(kLogits), 1.0, 0, 1.0, 0.2);
  EXPECT_EQ(kept_count(target), 5);
  expect_fits(draw_counts(kLogits, p, 404), target);
}

TEST(SamplerStatistics, MinPAppliesAfterTemperature) {
  // At T = 0.5 the probability ratios are the squares of those at T = 1: min_p 0.16 keeps 3 tokens here,
  // where it would keep 6 if applied to the unscaled logits.
  SamplingParams p;
  p.temperature = 0.5f;
  p.min_p = 0.16f;
  const auto target = target_distribution(as_double(kLogits), 0.5, 0, 1.0, 0.16);
  EXPECT_EQ(kept_count(target), 3);
  EXPECT_EQ(kept_count(target_distribution(as_double(kLogits), 1.0, 0, 1.0, 0.16)), 6);
  expect_fits(draw_counts(kLogits, p, 454), target);
}

TEST(SamplerStatistics, AllFiltersCombined) {
  // Each filter removes tokens: min_p 10 -> 7, top_k 7 -> 5, top_p 5 -> 3.
  SamplingParams p;
  p.temperature = 0.7f;
  p.min_p = 0.05f;
  p.top_k = 5;
  p.top_p = 0.8f;
  auto target = target_distribution(as_double(kLogits), 0.7, 5, 0.8, 0.05);
  EXPECT_EQ(kept_count(target), 3);
  expect_fits(draw_counts(kLogits, p, 505), target);

  // A hotter setting where more survive: min_p 10 -> 9, top_k 9 -> 7, top_p 7 -> 6.
  p.temperature = 1.5f;
  p.min_p = 0.12f;
  p.top_k = 7;
  p.top_p = 0.85f;
  target = target_distribution(as_double(kLogits), 1.5, 7, 0.85, 0.12);
  EXPECT_EQ(kept_count(target), 6);
  expect_fits(draw_counts(kLogits, p, 606), target);
}

TEST(SamplerStatistics, PenaltiesAndSuppressionThenTemperature) {
  // Prompt {1, 2}, output {6, 6, 3}; repetition 1.5, frequency 0.3, presence 0.2; token 4 suppressed.
  SamplingParams p;
  p.temperature = 0.8f;
  p.repetition_penalty = 1.5f;
  p.frequency_penalty = 0.3f;
  p.presence_penalty = 0.2f;
  const std::vector<double> penalised{0.3,
                                      2.0 / 1.5,              // prompt: divided
                                      -1.1 * 1.5,             // prompt, negative: multiplied
                                      1.2 / 1.5 - 0.3 - 0.2,  // output once
                                      -INFINITY,              // suppressed
                                      -0.4,
                                      1.6 / 1.5 - 0.6 - 0.2,  // output twice
                                      -2.2,
                                      0.1,
                                      0.6};
  const auto target = target_distribution(penalised, 0.8, 0, 1.0, 0.0);
  EXPECT_EQ(kept_count(target), 9);
  expect_fits(draw_counts(kLogits, p, 707, {1, 2}, {6, 6, 3}, {4}), target);
}

}  // namespace
}  // namespace shardlm
