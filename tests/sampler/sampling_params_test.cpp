// SamplingParams::validate: each invalid value is rejected with std::invalid_argument naming the field,
// the value and the range (vLLM's wording); valid edge values pass.
#include "shardlm/sampling_params.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>

namespace shardlm {
namespace {

// Returns the message validate() throws, or "" when it accepts.
std::string rejection(const std::function<void(SamplingParams&)>& edit) {
  SamplingParams p;
  edit(p);
  try {
    p.validate();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

void expect_rejected(const std::function<void(SamplingParams&)>& edit, const std::string& expected_message) {
  EXPECT_EQ(rejection(edit), expected_message);
}

TEST(SamplingParamsValidate, DefaultsAreValid) {
  SamplingParams p;
  EXPECT_NO_THROW(p.validate());
  EXPECT_EQ(p.n, 1);
  EXPECT_EQ(p.max_tokens, 16);
  EXPECT_EQ(p.top_k, 0);
  EXPECT_FALSE(p.greedy());
}

TEST(SamplingParamsValidate, RejectsN) {
  expect_rejected([](SamplingParams& p) { p.n = 0; }, "n must be at least 1, got 0.");
  expect_rejected([](SamplingParams& p) { p.n = -3; }, "n must be at least 1, got -3.");
  expect_rejected([](SamplingParams& p) { p.n = 16385; }, "n must be at most 16384, got 16385.");
  EXPECT_EQ(rejection([](SamplingParams& p) { p.n = 16384; }), "");
}

TEST(SamplingParamsValidate, RejectsPenalties) {
  expect_rejected([](SamplingParams& p) { p.presence_penalty = 2.5f; },
                  "presence_penalty must be in [-2, 2], got 2.5.");
  expect_rejected([](SamplingParams& p) { p.presence_penalty = -2.1f; },
                  "presence_penalty must be in [-2, 2], got -2.1.");
  expect_rejected([](SamplingParams& p) { p.presence_penalty = NAN; },
                  "presence_penalty must be in [-2, 2], got nan.");
  expect_rejected([](SamplingParams& p) { p.frequency_penalty = 3.0f; },
                  "frequency_penalty must be in [-2, 2], got 3.0.");
  expect_rejected([](SamplingParams& p) { p.frequency_penalty = -2.5f; },
                  "frequency_penalty must be in [-2, 2], got -2.5.");
  expect_rejected([](SamplingParams& p) { p.repetition_penalty = 0.0f; },
                  "repetition_penalty must be greater than zero, got 0.0.");
  expect_rejected([](SamplingParams& p) { p.repetition_penalty = -1.0f; },
                  "repetition_penalty must be greater than zero, got -1.0.");
  expect_rejected([](SamplingParams& p) { p.repetition_penalty = INFINITY; },
                  "repetition_penalty must be a finite number, got inf.");
  expect_rejected([](SamplingParams& p) { p.repetition_penalty = NAN; },
                  "repetition_penalty must be a finite number, got nan.");
  EXPECT_EQ(rejection([](SamplingParams& p) {
              p.presence_penalty = -2.0f;
              p.frequency_penalty = 2.0f;
              p.repetition_penalty = 5.0f;
            }),
            "");
}

TEST(SamplingParamsValidate, RejectsTemperature) {
  expect_rejected([](SamplingParams& p) { p.temperature = -1.0f; },
                  "temperature must be non-negative, got -1.0.");
  expect_rejected([](SamplingParams& p) { p.temperature = -0.01f; },
                  "temperature must be non-negative, got -0.01.");
  expect_rejected([](SamplingParams& p) { p.temperature = 2.5f; }, "temperature must be in [0, 2], got 2.5.");
  expect_rejected([](SamplingParams& p) { p.temperature = NAN; },
                  "temperature must be a finite number, got nan.");
  expect_rejected([](SamplingParams& p) { p.temperature = -INFINITY; },
                  "temperature must be a finite number, got -inf.");
  EXPECT_EQ(rejection([](SamplingParams& p) { p.temperature = 0.0f; }), "");
  EXPECT_EQ(rejection([](SamplingParams& p) { p.temperature = 2.0f; }), "");
}

TEST(SamplingParamsValidate, RejectsTopPTopKMinP) {
  expect_rejected([](SamplingParams& p) { p.top_p = 0.0f; }, "top_p must be in (0, 1], got 0.0.");
  expect_rejected([](SamplingParams& p) { p.top_p = 1.5f; }, "top_p must be in (0, 1], got 1.5.");
  expect_rejected([](SamplingParams& p) { p.top_p = NAN; }, "top_p must be in (0, 1], got nan.");
  expect_rejected([](SamplingParams& p) { p.top_k = -2; },
                  "top_k must be 0 (disable), or at least 1, got -2.");
  expect_rejected([](SamplingParams& p) { p.min_p = -0.1f; }, "min_p must be in [0, 1], got -0.1.");
  expect_rejected([](SamplingParams& p) { p.min_p = 1.25f; }, "min_p must be in [0, 1], got 1.25.");
  EXPECT_EQ(rejection([](SamplingParams& p) { p.top_k = -1; }), "");
  EXPECT_EQ(rejection([](SamplingParams& p) { p.top_k = 1; }), "");
  EXPECT_EQ(rejection([](SamplingParams& p) { p.top_p = 1e-6f; }), "");
  EXPECT_EQ(rejection([](SamplingParams& p) { p.min_p = 1.0f; }), "");
}

TEST(SamplingParamsValidate, RejectsTokenCounts) {
  expect_rejected([](SamplingParams& p) { p.max_tokens = 0; }, "max_tokens must be at least 1, got 0.");
  expect_rejected([](SamplingParams& p) { p.min_tokens = -1; },
                  "min_tokens must be greater than or equal to 0, got -1.");
  expect_rejected([](SamplingParams& p) { p.min_tokens = 20; },
                  "min_tokens must be less than or equal to max_tokens=16, got 20.");
  EXPECT_EQ(rejection([](SamplingParams& p) {
              p.max_tokens = std::nullopt;
              p.min_tokens = 1000;
            }),
            "");
  EXPECT_EQ(rejection([](SamplingParams& p) { p.min_tokens = 16; }), "");
}

TEST(SamplingParamsValidate, RejectsLogprobsAndStop) {
  expect_rejected([](SamplingParams& p) { p.logprobs = -2; }, "logprobs must be non-negative or -1, got -2.");
  EXPECT_EQ(rejection([](SamplingParams& p) { p.logprobs = -1; }), "");
  EXPECT_EQ(rejection([](SamplingParams& p) { p.logprobs = 0; }), "");
  expect_rejected([](SamplingParams& p) { p.stop = {"ok", ""}; }, "stop cannot contain an empty string.");
  EXPECT_EQ(rejection([](SamplingParams& p) { p.stop = {"\n\n"}; }), "");
}

TEST(SamplingParamsValidate, GreedyNeedsSingleSequence) {
  expect_rejected(
      [](SamplingParams& p) {
        p.temperature = 0.0f;
        p.n = 2;
      },
      "n must be 1 when using greedy sampling, got 2.");
  EXPECT_EQ(rejection([](SamplingParams& p) {
              p.temperature = 1e-5f;  // at the threshold: random sampling
              p.n = 2;
            }),
            "");
}

TEST(SamplingParamsValidate, PrintsFloatsAsPython) {
  // Python's repr: shortest round-trip digits, scientific outside [1e-4, 1e16).
  expect_rejected([](SamplingParams& p) { p.min_p = -1e-5f; }, "min_p must be in [0, 1], got -1e-05.");
  expect_rejected([](SamplingParams& p) { p.min_p = -0.0001f; }, "min_p must be in [0, 1], got -0.0001.");
  expect_rejected([](SamplingParams& p) { p.temperature = 123.5f; },
                  "temperature must be in [0, 2], got 123.5.");
  expect_rejected([](SamplingParams& p) { p.temperature = 1e20f; },
                  "temperature must be in [0, 2], got 1e+20.");
  expect_rejected([](SamplingParams& p) { p.temperature = 1.5e15f; },
                  "temperature must be in [0, 2], got 1500000000000000.0.");
}

TEST(SamplingParamsValidate, SeedMinusOneMeansUnset) {
  SamplingParams p;
  EXPECT_FALSE(p.effective_seed().has_value());
  p.seed = -1;
  EXPECT_FALSE(p.effective_seed().has_value());
  p.seed = 7;
  EXPECT_EQ(p.effective_seed(), 7);
}

}  // namespace
}  // namespace shardlm
