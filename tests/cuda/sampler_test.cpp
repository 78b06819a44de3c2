// The GPU sampler (sample_batch on CUDA logits, ops/cuda/sampling.cu) against the CPU sampler
// (sample_token) on random rows: odd vocabulary sizes, every filter and penalty, ties, suppression, the
// logprobs fallback, the errors, and bit-identical repeats. Same Rng seeds on both sides: greedy tokens must
// be identical, sampled tokens identical on >= 99% of draws, logprobs within 1e-4.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <iostream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "cuda/cuda_test_util.h"
#include "engine/device_sampler.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// One sequence's inputs, owned (SampleRow points into it).
struct RowCase {
  SamplingParams params;
  std::vector<int32_t> prompt, output, suppressed;
  uint64_t seed = 0;
};

struct Batch {
  int32_t vocab = 0;
  std::vector<float> logits;  // [rows, vocab]
  std::vector<RowCase> rows;
};

struct Outcome {
  std::vector<SampleResult> results;
  std::vector<Rng> rngs;  // after sampling
  std::string error;      // what was thrown, if anything
};

// Samples the batch on `dev` with fresh Rngs from each row's seed.
Outcome run(const Batch& b, Device dev) {
  Outcome o;
  for (const RowCase& r : b.rows) o.rngs.emplace_back(r.seed);
  std::vector<SampleRow> rows;
  for (size_t k = 0; k < b.rows.size(); ++k) {
    const RowCase& r = b.rows[k];
    rows.push_back(SampleRow{&r.params, &r.prompt, &r.output, r.suppressed, &o.rngs[k]});
  }
  Tensor logits = Tensor::from_f32(b.logits, {(int64_t)b.rows.size(), b.vocab});
  if (dev == Device::CUDA) logits = logits.to(Device::CUDA);
  std::vector<float> scratch;
  try {
    o.results = sample_batch(logits, rows, scratch);
  } catch (const Error& e) {
    o.error = e.what();
  }
  return o;
}

std::vector<int32_t> random_ids(std::mt19937& g, int32_t vocab, int n) {
  std::uniform_int_distribution<int32_t> id(0, vocab - 1);
  std::vector<int32_t> v((size_t)n);
  for (auto& x : v) x = id(g);
  return v;
}

// Logits of one row in one of several shapes: smooth, peaked, coarse (many ties), some -inf.
void fill_row(std::mt19937& g, float* row, int32_t vocab, int shape) {
  std::normal_distribution<float> normal(0.f, shape == 1 ? 6.f : 2.f);
  for (int32_t i = 0; i < vocab; ++i) row[i] = normal(g);
  if (shape == 2)
    for (int32_t i = 0; i < vocab; ++i) row[i] = std::round(row[i] * 2.f) / 2.f;  // ties everywhere
  if (shape == 3) {
    std::uniform_int_distribution<int32_t> id(0, vocab - 1);
    for (int n = 0; n < vocab / 10; ++n) row[id(g)] = -kInf;
  }
}

// Parameters drawn from every combination the sampler distinguishes.
SamplingParams random_params(std::mt19937& g, int32_t vocab, bool allow_logprobs) {
  auto pick = [&](auto... options) {
    using T = std::common_type_t<decltype(options)...>;
    const T v[] = {(T)options...};
    return v[std::uniform_int_distribution<size_t>(0, sizeof...(options) - 1)(g)];
  };
  SamplingParams p;
  p.temperature = pick(0.f, 0.f, 0.005f, 0.5f, 1.f, 1.f, 1.7f);
  p.top_k = pick(0, 0, -1, 1, 2, 5, 50, 1000, vocab - 1, vocab + 3);
  p.top_p = pick(1.f, 1.f, 0.95f, 0.8f, 0.5f, 0.1f);
  p.min_p = pick(0.f, 0.f, 0.01f, 0.2f);
  p.repetition_penalty = pick(1.f, 1.f, 1.3f, 0.8f);
  p.frequency_penalty = pick(0.f, 0.f, 0.5f, -0.4f);
  p.presence_penalty = pick(0.f, 0.f, 0.7f, -0.3f);
  if (allow_logprobs && pick(0, 0, 0, 0, 0, 1) == 1) p.logprobs = pick(0, 3, 20);
  return p;
}

Batch random_batch(int32_t vocab, int num_rows, uint32_t seed, bool allow_logprobs = true) {
  std::mt19937 g(seed);
  Batch b;
  b.vocab = vocab;
  b.logits.resize((size_t)num_rows * vocab);
  for (int k = 0; k < num_rows; ++k) {
    fill_row(g, b.logits.data() + (size_t)k * vocab, vocab, k % 4);
    RowCase r;
    r.params = random_params(g, vocab, allow_logprobs);
    r.prompt = random_ids(g, vocab, std::uniform_int_distribution<int>(1, 40)(g));
    r.output = random_ids(g, vocab, std::uniform_int_distribution<int>(0, 30)(g));
    if (!r.output.empty()) r.output.push_back(r.output[0]);  // repeats for the frequency penalty
    if (k % 3 == 0 && vocab >= 16)  // in and out of the vocabulary, and an output token
      r.suppressed = {random_ids(g, vocab, 1)[0], vocab + 5, -1, r.output.empty() ? 0 : r.output[0]};
    r.seed = seed * 1000003ull + (uint64_t)k;
    b.rows.push_back(std::move(r));
  }
  return b;
}

// The statistics of one comparison, summed over batches.
struct Agreement {
  int greedy = 0, sampled = 0, sampled_same = 0;
};

// Compares the GPU with the CPU on one batch; fails on any difference but sampled-token ones, counted.
void compare(const Batch& b, Agreement& agree) {
  const Outcome cpu = run(b, Device::CPU);
  const Outcome gpu = run(b, Device::CUDA);
  ASSERT_EQ(cpu.error, "") << "the CPU reference failed";
  ASSERT_EQ(gpu.error, "");
  ASSERT_EQ(gpu.results.size(), b.rows.size());
  for (size_t k = 0; k < b.rows.size(); ++k) {
    const RowCase& r = b.rows[k];
    const SampleResult& want = cpu.results[k];
    const SampleResult& got = gpu.results[k];
    SCOPED_TRACE(::testing::Message() << "vocab " << b.vocab << " row " << k << " T=" << r.params.temperature
                                      << " top_k=" << r.params.top_k << " top_p=" << r.params.top_p
                                      << " min_p=" << r.params.min_p << " rep=" << r.params.repetition_penalty
                                      << " freq=" << r.params.frequency_penalty
                                      << " pres=" << r.params.presence_penalty);
    EXPECT_TRUE(gpu.rngs[k] == cpu.rngs[k]) << "different number of draws";
    ASSERT_GE(got.token, 0);
    ASSERT_LT(got.token, b.vocab);
    // The raw log-sum-exp, from the CPU's answer: logprob = logit - lse.
    const float* row = b.logits.data() + k * (size_t)b.vocab;
    const double lse = (double)row[want.token] - want.logprob;
    EXPECT_NEAR(got.logprob, (double)row[got.token] - lse, 1e-4);
    if (r.params.greedy()) {
      ++agree.greedy;
      EXPECT_EQ(got.token, want.token);
    } else {
      ++agree.sampled;
      agree.sampled_same += got.token == want.token;
    }
    ASSERT_EQ(got.top.size(), want.top.size());
    for (size_t i = 0; i < want.top.size(); ++i) {
      EXPECT_EQ(got.top[i].token, want.top[i].token);
      EXPECT_EQ(got.top[i].logprob, want.top[i].logprob);
    }
  }
}

void expect_agreement(const Agreement& a) {
  std::cerr << "GPU sampler: " << a.greedy << " greedy rows identical, " << a.sampled_same << " of " << a.sampled
            << " sampled tokens identical\n";
  EXPECT_GT(a.sampled, 0);
  EXPECT_GE(a.sampled_same, 0.99 * a.sampled);
}

class CudaSampler : public ::testing::Test {
 protected:
  void SetUp() override { SHARDLM_REQUIRE_GPU(); }
};

TEST_F(CudaSampler, MatchesCpuOnRandomRows) {
  Agreement agree;
  uint32_t seed = 1;
  for (int32_t vocab : {1, 2, 7, 1000, 1023, 1025, 32000}) {
    for (int round = 0; round < 4; ++round) {
      compare(random_batch(vocab, 64, seed++), agree);
      if (HasFatalFailure()) return;
    }
  }
  expect_agreement(agree);
}

TEST_F(CudaSampler, MatchesCpuOnLargeVocabularies) {
  Agreement agree;
  uint32_t seed = 100;
  for (int32_t vocab : {128256 + 7, 151936, 256000}) {
    compare(random_batch(vocab, 48, seed++), agree);
    if (HasFatalFailure()) return;
  }
  expect_agreement(agree);
}

// Many draws from one distribution: the GPU's tokens are the CPU's tokens, draw by draw.
TEST_F(CudaSampler, SameDrawsAsCpuForEverySeed) {
  Agreement agree;
  for (int32_t vocab : {1000, 32000}) {
    Batch b = random_batch(vocab, 256, 7, false);
    const std::vector<float> first(b.logits.begin(), b.logits.begin() + vocab);
    for (size_t k = 0; k < b.rows.size(); ++k) {
      std::copy(first.begin(), first.end(), b.logits.begin() + (ptrdiff_t)(k * vocab));
      RowCase& r = b.rows[k];
      r.params = SamplingParams{};
      r.params.temperature = 0.8f;
      r.params.top_p = k % 2 ? 0.9f : 1.0f;
      r.params.top_k = k % 3 ? 0 : 40;
      r.suppressed.clear();
    }
    compare(b, agree);
    if (HasFatalFailure()) return;
  }
  expect_agreement(agree);
}

// top_k ties: every token tied with the k-th largest logit stays; top_p ties are cut by lower id.
TEST_F(CudaSampler, TiesAtTheTopKAndTopPBoundaries) {
  Agreement agree;
  Batch b;
  b.vocab = 5003;
  const int rows = 96;
  b.logits.assign((size_t)rows * b.vocab, -3.f);
  for (int k = 0; k < rows; ++k) {
    float* row = b.logits.data() + (size_t)k * b.vocab;
    for (int32_t i = 0; i < b.vocab; i += 97) row[i] = 2.f;  // 52 tokens tied at the top
    for (int32_t i = 5; i < b.vocab; i += 89) row[i] = 1.f;
    RowCase r;
    r.params.temperature = 1.f;
    r.params.top_k = 1 + k % 60;
    r.params.top_p = k % 2 ? 1.f : 0.02f + 0.01f * (float)(k % 30);
    r.seed = 500 + (uint64_t)k;
    b.rows.push_back(r);
  }
  compare(b, agree);
  expect_agreement(agree);
}

TEST_F(CudaSampler, RepeatsAreBitIdentical) {
  for (int32_t vocab : {1000, 128256 + 7}) {
    const Batch b = random_batch(vocab, 64, 42 + (uint32_t)vocab, false);
    const Outcome first = run(b, Device::CUDA);
    for (int repeat = 0; repeat < 3; ++repeat) {
      const Outcome again = run(b, Device::CUDA);
      ASSERT_EQ(again.results.size(), first.results.size());
      for (size_t k = 0; k < first.results.size(); ++k) {
        EXPECT_EQ(again.results[k].token, first.results[k].token) << "row " << k;
        EXPECT_EQ(std::memcmp(&again.results[k].logprob, &first.results[k].logprob, sizeof(float)), 0) << "row " << k;
      }
    }
  }
}

// Rows whose logits or penalties make sampling impossible fail with the CPU's message; the rows before the
// failing one are sampled (their Rngs advance) and the rows after it are not.
TEST_F(CudaSampler, ErrorsMatchTheCpu) {
  const int32_t vocab = 3001;
  struct Bad {
    const char* what;
    std::function<void(float*, RowCase&)> make;
  };
  const std::vector<Bad> bad = {
      {"NaN", [](float* row, RowCase&) { row[2000] = NAN, row[2500] = kInf; }},
      {"+inf before NaN", [](float* row, RowCase&) { row[17] = kInf, row[2500] = NAN; }},
      {"all -inf", [&](float* row, RowCase&) { std::fill(row, row + vocab, -kInf); }},
      {"all suppressed", [&](float* row, RowCase& r) {
         std::fill(row, row + vocab, -kInf);
         row[5] = 1.f;
         r.suppressed = {5};
       }},
      {"penalised to +inf", [](float* row, RowCase& r) {
         row[9] = 3e38f;
         r.params.repetition_penalty = 1e-3f;
         r.prompt = {9};
       }},
  };
  for (const Bad& c : bad) {
    for (bool greedy : {false, true}) {
      SCOPED_TRACE(::testing::Message() << c.what << (greedy ? " greedy" : " sampled"));
      Batch b = random_batch(vocab, 6, 9, false);
      for (RowCase& r : b.rows) r.params.temperature = greedy ? 0.f : 1.f;
      c.make(b.logits.data() + 3 * (size_t)vocab, b.rows[3]);
      const Outcome cpu = run(b, Device::CPU);
      const Outcome gpu = run(b, Device::CUDA);
      ASSERT_NE(cpu.error, "");
      EXPECT_EQ(gpu.error, cpu.error);
      for (size_t k = 0; k < b.rows.size(); ++k) EXPECT_TRUE(gpu.rngs[k] == cpu.rngs[k]) << "row " << k;
    }
  }
  // Ids outside the vocabulary: the host reports them, as sample_token does.
  Batch b = random_batch(vocab, 4, 10, false);
  b.rows[2].output.push_back(vocab);
  const Outcome cpu = run(b, Device::CPU), gpu = run(b, Device::CUDA);
  EXPECT_NE(cpu.error, "");
  EXPECT_EQ(gpu.error, cpu.error);
}

// Rows that want top logprobs are sampled on the host from a copy: results equal the CPU's exactly.
TEST_F(CudaSampler, LogprobRowsFallBackToTheHost) {
  Batch b = random_batch(2048, 12, 11, false);
  for (size_t k = 0; k < b.rows.size(); ++k)
    if (k % 4 == 1 || k == 10) b.rows[k].params.logprobs = k == 10 ? -1 : 5;
  const Outcome cpu = run(b, Device::CPU), gpu = run(b, Device::CUDA);
  ASSERT_EQ(gpu.error, "");
  for (size_t k = 0; k < b.rows.size(); ++k) {
    if (!b.rows[k].params.logprobs) continue;
    EXPECT_EQ(gpu.results[k].token, cpu.results[k].token);
    EXPECT_EQ(gpu.results[k].logprob, cpu.results[k].logprob);
    ASSERT_EQ(gpu.results[k].top.size(), k == 10 ? 2048u : 5u);
    for (size_t i = 0; i < cpu.results[k].top.size(); ++i) {
      EXPECT_EQ(gpu.results[k].top[i].token, cpu.results[k].top[i].token);
      EXPECT_EQ(gpu.results[k].top[i].logprob, cpu.results[k].top[i].logprob);
    }
  }
}

// Not a check: how long one step's sampling takes, GPU against the CPU path it replaces (copy + loop), and
// the kernel alone (packed once, launched `iters` times, one synchronising copy).
TEST_F(CudaSampler, TimingAtLlama3Scale) {
  const int32_t vocab = 128256;
  struct Setting {
    const char* name;
    float temperature, top_p, repetition_penalty;
    int top_k;
  };
  const Setting settings[] = {{"greedy", 0.f, 1.f, 1.f, 0},
                              {"T=0.8 top_k=50 top_p=0.95 rep=1.1", 0.8f, 0.95f, 1.1f, 50},
                              {"T=0.8 top_p=0.9", 0.8f, 0.9f, 1.f, 0}};
  for (const Setting& s : settings) {
    for (int rows : {1, 64, 256}) {
      Batch b = random_batch(vocab, rows, 77, false);
      for (RowCase& r : b.rows) {
        r.params = SamplingParams{};
        r.params.temperature = s.temperature;
        r.params.top_p = s.top_p;
        r.params.top_k = s.top_k;
        r.params.repetition_penalty = s.repetition_penalty;
      }
      Tensor device_logits = Tensor::from_f32(b.logits, {rows, vocab}).to(Device::CUDA);
      std::vector<Rng> rngs;
      for (const RowCase& r : b.rows) rngs.emplace_back(r.seed);
      std::vector<SampleRow> view;
      for (int k = 0; k < rows; ++k)
        view.push_back(SampleRow{&b.rows[k].params, &b.rows[k].prompt, &b.rows[k].output, {}, &rngs[k]});
      std::vector<float> scratch;
      auto time_ms = [&](int iters, auto&& f) {
        f();
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < iters; ++i) f();
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / iters;
      };
      const double gpu_ms = time_ms(20, [&] { sample_batch(device_logits, view, scratch); });
      std::cerr << "sampling " << rows << " x " << vocab << " (" << s.name << "): sample_batch " << gpu_ms << " ms";
#if SHARDLM_HAVE_CUDA
      const PackedSampleBatch packed = pack_sample_batch(view, vocab);
      Tensor host_in = Tensor::empty({(int64_t)packed.bytes.size()}, DType::U8);
      std::memcpy(host_in.raw(), packed.bytes.data(), packed.bytes.size());
      const Tensor device_in = host_in.to(Device::CUDA);
      Tensor device_out =
          Tensor::empty({(int64_t)rows * (int64_t)sizeof(cuda::SampleRowResult)}, DType::U8, Device::CUDA);
      const int launches = 20;
      const double kernel_ms = time_ms(1, [&] {
        for (int i = 0; i < launches; ++i)
          cuda::sample_rows(device_logits, device_in, packed.num_rows, packed.num_entries, device_out);
        device_out.to(Device::CPU);  // synchronises
      }) / launches;
      std::cerr << ", kernel " << kernel_ms << " ms (" << (double)rows * vocab * 4 / (kernel_ms * 1e6)
                << " GB/s of logits)";
#endif
      if (s.top_k == 50) {
        const double cpu_ms = time_ms(1, [&] { sample_batch(device_logits.to(Device::CPU), view, scratch); });
        std::cerr << ", copy + CPU " << cpu_ms << " ms";
      }
      std::cerr << "\n";
    }
  }
}

}  // namespace
