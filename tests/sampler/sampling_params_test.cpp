// SamplingParams::validate: each invalid value is rejected with std::invalid_argument naming the field,
// the value and the range (vLLM's wording); valid edge values pass.
#include "shardlm/sampling_params.h"

#include "engine/sampling_params_json.h"

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

TEST(SamplingParamsNormalize, AsVllmsPostInit) {
  SamplingParams p;
  p.seed = -1;
  p.temperature = 0.005f;
  p.stop_token_ids = {5, 3, 5, 7, 3};
  p.bad_words = {"a", "b", "a"};
  const std::string warning = p.normalize();
  EXPECT_EQ(warning, "temperature 0.005 is less than 0.01, which may cause numerical errors nan or inf in tensors. "
                     "We have maxed it out to 0.01.");
  EXPECT_FALSE(p.seed.has_value());
  EXPECT_EQ(p.temperature, 0.01f);
  EXPECT_EQ(p.stop_token_ids, (std::vector<int32_t>{5, 3, 7}));
  EXPECT_EQ(p.bad_words, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p.normalize(), "") << "idempotent";

  SamplingParams greedy;
  greedy.temperature = 0.0f;
  greedy.top_p = 0.5f;
  greedy.top_k = 3;
  greedy.min_p = 0.2f;
  EXPECT_EQ(greedy.normalize(), "");
  EXPECT_EQ(greedy.top_p, 1.0f);
  EXPECT_EQ(greedy.top_k, 0);
  EXPECT_EQ(greedy.min_p, 0.0f);
  SamplingParams random;
  random.top_k = 3;
  random.normalize();
  EXPECT_EQ(random.top_k, 3) << "only greedy resets the truncations";
}

TEST(SamplingParamsValidate, NewFieldsAsVllm) {
  auto param_of = [](const std::function<void(SamplingParams&)>& edit) {
    SamplingParams p;
    edit(p);
    try {
      p.validate();
    } catch (const ParameterError& e) {
      return e.parameter();
    }
    return std::string();
  };
  expect_rejected([](SamplingParams& p) { p.prompt_logprobs = -2; }, "prompt_logprobs must be non-negative or -1, got -2.");
  EXPECT_EQ(param_of([](SamplingParams& p) { p.prompt_logprobs = -2; }), "prompt_logprobs");
  expect_rejected([](SamplingParams& p) { p.prompt_logprobs = -1; }, "");
  expect_rejected([](SamplingParams& p) {
    p.detokenize = false;
    p.stop = {"x"};
  }, "stop strings are only supported when detokenize is True. Set detokenize=True to use stop.");
  expect_rejected([](SamplingParams& p) { p.bad_words = {"ok", ""}; },
                  "bad_words cannot contain an empty string. Got bad_words=['ok', '']");
  expect_rejected([](SamplingParams& p) { p.truncate_prompt_tokens = 0; },
                  "truncate_prompt_tokens must be an integer >= 1 or -1, got 0");
  expect_rejected([](SamplingParams& p) { p.truncate_prompt_tokens = -2; },
                  "truncate_prompt_tokens must be an integer >= 1 or -1, got -2");
  expect_rejected([](SamplingParams& p) { p.truncate_prompt_tokens = -1; }, "");
  EXPECT_EQ(param_of([](SamplingParams& p) { p.temperature = -1; }), "temperature");
}

TEST(SamplingParamsVerify, ModelBoundChecksAsVllm) {
  auto verify = [](const std::function<void(SamplingParams&)>& edit, int max_logprobs = 20) {
    SamplingParams p;
    edit(p);
    try {
      p.verify_for_model(100, max_logprobs);
    } catch (const ParameterError& e) {
      return e.parameter() + ": " + e.what();
    }
    return std::string();
  };
  EXPECT_EQ(verify([](SamplingParams& p) { p.logprobs = 20; }), "");
  EXPECT_EQ(verify([](SamplingParams& p) { p.logprobs = 21; }).substr(0, 80),
            "logprobs: Requested sample logprobs of 21, which is greater than max allowed: 20");
  EXPECT_EQ(verify([](SamplingParams& p) { p.prompt_logprobs = -1; }).substr(0, 88),
            "prompt_logprobs: Requested prompt logprobs of 100, which is greater than max allowed: 20");
  EXPECT_EQ(verify([](SamplingParams& p) { p.prompt_logprobs = -1; }, -1), "");
  EXPECT_EQ(verify([](SamplingParams& p) { p.stop_token_ids = {3, 100, -1}; }),
            "stop_token_ids: token_id(s) [100, -1] in stop_token_ids contain out-of-vocab token ids. Vocabulary size: 100");
  EXPECT_EQ(verify([](SamplingParams& p) { p.logit_bias = {{100, 1.0f}}; }),
            "logit_bias: token_id(s) [100] in logit_bias contain out-of-vocab token ids. Vocabulary size: 100");
  EXPECT_EQ(verify([](SamplingParams& p) { p.allowed_token_ids = std::vector<int32_t>{}; }),
            "allowed_token_ids: allowed_token_ids is not None and empty!");
  EXPECT_EQ(verify([](SamplingParams& p) { p.allowed_token_ids = std::vector<int32_t>{1, 100}; }),
            "allowed_token_ids: allowed_token_ids contains out-of-vocab token id!");
}

// Every field survives the JSON the server's leader sends its followers (and ranks hash), each set to a
// value other than its default.
TEST(SamplingParamsJson, EveryFieldRoundTrips) {
  SamplingParams p;
  p.n = 3;
  p.presence_penalty = 0.25f;
  p.frequency_penalty = -0.5f;
  p.repetition_penalty = 1.1f;
  p.temperature = 0.7f;
  p.top_p = 0.9f;
  p.top_k = 7;
  p.min_p = 0.05f;
  p.seed = int64_t(1) << 40;
  p.stop = {"a", "bc"};
  p.stop_token_ids = {4, 5};
  p.ignore_eos = true;
  p.max_tokens = std::nullopt;
  p.min_tokens = 2;
  p.logprobs = 3;
  p.prompt_logprobs = -1;
  p.detokenize = false;
  p.skip_special_tokens = false;
  p.spaces_between_special_tokens = false;
  p.include_stop_str_in_output = true;
  p.output_kind = RequestOutputKind::FinalOnly;
  p.logit_bias = {{3, 1.5f}, {9, -100.0f}};
  p.allowed_token_ids = std::vector<int32_t>{1, 2};
  p.bad_words = {"no"};
  p.truncate_prompt_tokens = 5;
  const nlohmann::json j = sampling_params_to_json(p);
  int fields = 0;
  SamplingParams::for_each_field([&](const char* name, auto member) {
    ++fields;
    EXPECT_TRUE(j.contains(name)) << name;
    EXPECT_NE(SamplingParams{}.*member, p.*member) << name << " is left at its default in this test";
  });
  EXPECT_EQ((int)j.size(), fields);
  const SamplingParams back = sampling_params_from_json(nlohmann::json::parse(j.dump()));
  SamplingParams::for_each_field([&](const char* name, auto member) { EXPECT_EQ(back.*member, p.*member) << name; });
  EXPECT_EQ(back.max_tokens, std::nullopt);
  EXPECT_EQ(back.logit_bias.at(9), -100.0f);
}

}  // namespace
}  // namespace shardlm
