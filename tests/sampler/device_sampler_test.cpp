// The GPU sampler's host half, without a GPU: packing rows for the kernel (entries, flags, clamps, draws,
// which rows stay on the host), turning kernel statuses into sample_token's errors, and sample_batch on
// host logits being sample_token row by row.
#include "engine/device_sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "core/error.h"

namespace shardlm {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

struct Rows {
  std::vector<SamplingParams> params;
  std::vector<std::vector<int32_t>> prompts, outputs;
  std::vector<Rng> rngs;
  std::vector<SampleRow> view;
  std::vector<std::vector<int32_t>> suppressed;

  void add(const SamplingParams& p, std::vector<int32_t> prompt, std::vector<int32_t> output,
           std::vector<int32_t> suppress = {}, uint64_t seed = 0) {
    params.push_back(p);
    prompts.push_back(std::move(prompt));
    outputs.push_back(std::move(output));
    suppressed.push_back(std::move(suppress));
    rngs.emplace_back(seed);
  }
  // SampleRows pointing into this object (valid until the next add()).
  const std::vector<SampleRow>& rows() {
    view.clear();
    for (size_t k = 0; k < params.size(); ++k)
      view.push_back(SampleRow{&params[k], &prompts[k], &outputs[k], suppressed[k], &rngs[k]});
    return view;
  }
};

SamplingParams greedy() {
  SamplingParams p;
  p.temperature = 0.f;
  return p;
}

using Entry = std::tuple<int32_t, int32_t, uint32_t>;  // token, output count, flags

std::vector<Entry> entries_of(const PackedSampleBatch& b, int32_t packed) {
  const cuda::SampleRowParams& p = b.params(packed);
  std::vector<Entry> out;
  for (int32_t e = p.entries_begin; e < p.entries_end; ++e)
    out.emplace_back(b.entries()[e].token, b.entries()[e].output_count, b.entries()[e].flags);
  return out;
}

TEST(DeviceSamplerPack, EntriesMergePenaltiesAndSuppression) {
  Rows r;
  SamplingParams all;
  all.repetition_penalty = 1.2f;
  all.frequency_penalty = 0.5f;
  r.add(all, {7, 3, 7, 9}, {3, 5, 3, 3}, {5, 100, -1, 2, 99});
  SamplingParams freq_only;
  freq_only.frequency_penalty = 0.1f;
  r.add(freq_only, {7, 3}, {4, 4});  // prompt ids do not matter without a repetition penalty
  SamplingParams plain;
  r.add(plain, {1, 2, 3}, {4}, {6});  // no penalty: only the suppressed id
  const PackedSampleBatch b = pack_sample_batch(r.rows(), 100);

  ASSERT_EQ(b.num_rows, 3);
  const uint32_t prompt = cuda::kEntryInPrompt, sup = cuda::kEntrySuppressed;
  EXPECT_EQ(entries_of(b, 0), (std::vector<Entry>{{2, 0, sup}, {3, 3, prompt}, {5, 1, sup}, {7, 0, prompt},
                                                  {9, 0, prompt}, {99, 0, sup}}));
  EXPECT_EQ(entries_of(b, 1), (std::vector<Entry>{{4, 2, 0u}}));
  EXPECT_EQ(entries_of(b, 2), (std::vector<Entry>{{6, 0, sup}}));
  EXPECT_EQ(b.num_entries, 8);
  EXPECT_EQ(b.params(0).entries_begin, 0);
  EXPECT_EQ(b.params(2).entries_end, 8);
  EXPECT_EQ(b.params(0).flags, cuda::kSampleRepetition | cuda::kSampleFreqPresence);
  EXPECT_EQ(b.params(1).flags, cuda::kSampleFreqPresence);
  EXPECT_EQ(b.params(2).flags, 0u);
  EXPECT_EQ(b.bytes.size(), 3 * sizeof(cuda::SampleRowParams) + 8 * sizeof(cuda::SampleEntry));
}

TEST(DeviceSamplerPack, ClampsAndDrawsLikeSampleToken) {
  Rows r;
  SamplingParams p;
  p.temperature = 0.004f;  // raised to the minimum
  p.top_k = 100;           // >= vocab: off
  p.top_p = 0.7f;
  p.min_p = 0.05f;
  r.add(p, {1}, {}, {}, 11);
  p.temperature = 0.9f;
  p.top_k = 99;
  r.add(p, {1}, {}, {}, 12);
  p.top_k = -1;
  r.add(p, {1}, {}, {}, 13);
  r.add(greedy(), {1}, {}, {}, 14);
  const std::vector<Rng> before = r.rngs;
  const PackedSampleBatch b = pack_sample_batch(r.rows(), 100);

  EXPECT_EQ(r.rngs, before) << "packing must not advance the rows' Rngs";
  ASSERT_EQ(b.num_rows, 4);
  EXPECT_EQ(b.params(0).temperature, kMinSamplingTemperature);
  EXPECT_EQ(b.params(0).top_k, 0);
  EXPECT_EQ(b.params(0).top_p, 0.7f);
  EXPECT_EQ(b.params(0).min_p, 0.05f);
  EXPECT_EQ(b.params(1).temperature, 0.9f);
  EXPECT_EQ(b.params(1).top_k, 99);
  EXPECT_EQ(b.params(2).top_k, 0);
  EXPECT_EQ(b.params(3).flags, cuda::kSampleGreedy);
  for (int k = 0; k < 3; ++k) {
    Rng expect = before[(size_t)k];
    EXPECT_EQ(b.params(k).uniform, expect.uniform()) << "row " << k;
    EXPECT_EQ(b.rng_after[(size_t)k], expect) << "row " << k;
    EXPECT_EQ(b.params(k).logits_row, k);
  }
  EXPECT_EQ(b.rng_after[3], before[3]) << "greedy rows draw nothing";
}

TEST(DeviceSamplerPack, LogprobBiasAllowedAndBadIdRowsStayOnTheHost) {
  Rows r;
  SamplingParams top;
  top.logprobs = 2;
  SamplingParams zero;
  zero.logprobs = 0;  // no top list, but the sampled token's rank is computed on the host
  SamplingParams bias;
  bias.logit_bias = {{3, 1.5f}};
  SamplingParams allowed;
  allowed.allowed_token_ids = std::vector<int32_t>{1, 2};
  r.add(top, {1}, {});
  r.add(zero, {1}, {});
  r.add(SamplingParams{}, {1, 50}, {});  // prompt id outside the vocabulary
  r.add(SamplingParams{}, {1}, {-2});    // output id outside the vocabulary
  r.add(SamplingParams{}, {1}, {2});
  r.add(bias, {1}, {});
  r.add(allowed, {1}, {});
  r.add(SamplingParams{}, {1}, {});
  const PackedSampleBatch b = pack_sample_batch(r.rows(), 50);
  EXPECT_EQ(b.packed_row, (std::vector<int32_t>{-1, -1, -1, -1, 0, -1, -1, 1}));
  ASSERT_EQ(b.num_rows, 2);
  EXPECT_EQ(b.params(0).logits_row, 4);
  EXPECT_EQ(b.params(1).logits_row, 7);
  EXPECT_EQ(b.rng_after[0], r.rngs[0]);
}

// Each kernel status gives the error sample_token throws for the same logits.
TEST(DeviceSamplerUnpack, StatusesThrowSampleTokensErrors) {
  auto cpu_error = [](std::vector<float> logits, SamplingParams p, std::vector<int32_t> prompt = {}) {
    Rng rng(0);
    std::vector<float> scratch;
    try {
      sample_token(logits.data(), (int32_t)logits.size(), p, prompt, {}, {}, rng, scratch);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto gpu_error = [](cuda::SampleRowResult res, int32_t vocab, SamplingParams p) {
    try {
      unpack_sample_result(res, vocab, p);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  SamplingParams p;
  EXPECT_EQ(gpu_error({-1, 0.f, cuda::kSampleNanLogit, 2, NAN}, 4, p), cpu_error({0.f, 1.f, NAN, kInf}, p));
  EXPECT_EQ(gpu_error({-1, 0.f, cuda::kSampleInfiniteLogit, 1, kInf}, 4, p), cpu_error({0.f, kInf, NAN, 1.f}, p));
  EXPECT_EQ(gpu_error({-1, 0.f, cuda::kSampleAllLogitsNegInf, -1, -kInf}, 2, p), cpu_error({-kInf, -kInf}, p));
  SamplingParams tiny = p;
  tiny.repetition_penalty = 1e-3f;
  EXPECT_EQ(gpu_error({-1, 0.f, cuda::kSamplePenalisedNotFinite, 1, kInf}, 3, tiny),
            cpu_error({0.f, 3e38f, 1.f}, tiny, {1}));
  const std::string internal = gpu_error({-1, 0.f, cuda::kSampleInternal, -1, 0.f}, 3, p);
  EXPECT_NE(internal.find("internal error in the GPU sampler"), std::string::npos) << internal;
  const SampleResult ok = unpack_sample_result({2, -0.5f, cuda::kSampleOk, -1, 0.f}, 3, p);
  EXPECT_EQ(ok.token, 2);
  EXPECT_EQ(ok.logprob, -0.5f);
  EXPECT_TRUE(ok.top.empty());
}

TEST(DeviceSamplerBatch, HostLogitsAreSampledRowByRow) {
  const int32_t vocab = 50;
  Rows r;
  std::vector<float> logits(4 * vocab);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(0.37f * (float)i) * 4.f;
  SamplingParams p;
  p.top_p = 0.9f;
  p.logprobs = 3;
  r.add(p, {1, 2}, {3}, {}, 1);
  r.add(greedy(), {4}, {}, {}, 2);
  p.repetition_penalty = 1.5f;
  r.add(p, {5}, {5, 6}, {7}, 3);
  r.add(p, {8}, {}, {}, 4);
  const Tensor t = Tensor::from_f32(logits, {4, vocab});

  std::vector<Rng> want_rngs = r.rngs;
  std::vector<float> scratch;
  std::vector<SampleResult> want;
  for (size_t k = 0; k < 4; ++k)
    want.push_back(sample_token(logits.data() + k * vocab, vocab, r.params[k], r.prompts[k], r.outputs[k],
                                r.suppressed[k], want_rngs[k], scratch));
  const std::vector<SampleResult> got = sample_batch(t, r.rows(), scratch);
  ASSERT_EQ(got.size(), 4u);
  for (size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(got[k].token, want[k].token);
    EXPECT_EQ(got[k].logprob, want[k].logprob);
    EXPECT_EQ(got[k].top.size(), want[k].top.size());
  }
  EXPECT_EQ(r.rngs, want_rngs);

  // The first failing row throws; the rows before it were sampled, those after it were not.
  logits[2 * vocab + 7] = NAN;
  const Tensor bad = Tensor::from_f32(logits, {4, vocab});
  const std::vector<Rng> before = r.rngs;
  EXPECT_THROW(sample_batch(bad, r.rows(), scratch), Error);
  EXPECT_NE(r.rngs[0], before[0]);
  EXPECT_EQ(r.rngs[3], before[3]);

  EXPECT_TRUE(sample_batch(Tensor::empty({0, vocab}, DType::F32), {}, scratch).empty());
  EXPECT_THROW(sample_batch(Tensor::empty({3, vocab}, DType::F32), r.rows(), scratch), Error);
}

}  // namespace
}  // namespace shardlm
