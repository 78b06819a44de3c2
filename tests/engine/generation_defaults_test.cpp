// generation_config (vLLM's): the sampling defaults of a generation_config.json — only the six fields vLLM
// takes, only where they differ from transformers' defaults; "vllm" ignores the file; bad values name the
// file and field; a missing folder is an error. The engine uses them for LLM::default_sampling_params().
#include <gtest/gtest.h>

#include "core/error.h"
#include "engine/generation_defaults.h"
#include "engine_util.h"
#include "tokenizer/temp_dir.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

TEST(GenerationDefaults, TakesTheSixFieldsThatDifferFromTransformersDefaults) {
  TempDir d;
  d.write("generation_config.json", R"({"do_sample": true, "temperature": 0.6, "top_p": 0.9, "top_k": 50,
      "repetition_penalty": 1.0, "max_new_tokens": 7, "eos_token_id": 2, "num_beams": 1})");
  const SamplingParams p = generation_defaults("auto", d.path());
  EXPECT_FLOAT_EQ(p.temperature, 0.6f);
  EXPECT_FLOAT_EQ(p.top_p, 0.9f);
  EXPECT_EQ(p.top_k, SamplingParams{}.top_k) << "50 is transformers' default: not a difference";
  EXPECT_FLOAT_EQ(p.repetition_penalty, 1.0f);
  EXPECT_EQ(*p.max_tokens, 7);
  const SamplingParams neutral = generation_defaults("vllm", d.path());
  EXPECT_FLOAT_EQ(neutral.temperature, 1.0f);
  EXPECT_EQ(*neutral.max_tokens, 16);
  TempDir other;
  other.write("generation_config.json", R"({"top_k": 20, "min_p": 0.05})");
  const SamplingParams q = generation_defaults(other.path(), d.path());
  EXPECT_EQ(q.top_k, 20);
  EXPECT_FLOAT_EQ(q.min_p, 0.05f);
  EXPECT_FLOAT_EQ(q.temperature, 1.0f);
}

TEST(GenerationDefaults, BadFilesNameTheFieldAndMissingFoldersAreErrors) {
  TempDir d;
  d.write("generation_config.json", R"({"temperature": "hot"})");
  try {
    generation_defaults("auto", d.path());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("generation_config.json: field 'temperature' must be a number"), std::string::npos)
        << e.what();
  }
  d.write("generation_config.json", R"({"max_new_tokens": 0})");
  EXPECT_THROW(generation_defaults("auto", d.path()), Error);
  d.write("generation_config.json", R"({"top_p": 1.5})");
  EXPECT_THROW(generation_defaults("auto", d.path()), Error) << "validated as SamplingParams";
  EXPECT_THROW(generation_defaults(d.file("nope"), d.path()), std::invalid_argument);
  TempDir empty;
  EXPECT_EQ(*generation_defaults("auto", empty.path()).max_tokens, 16) << "no file: vLLM's defaults";
}

TEST(GenerationDefaults, TheEngineOffersThemAsDefaultSamplingParams) {
  SHARDLM_REQUIRE_FIXTURES();
  TempDir d;
  d.write("generation_config.json", R"({"temperature": 0.25, "max_new_tokens": 3})");
  EngineArgs a = cpu_args("tiny-llama");
  a.generation_config = d.path();
  LLM llm(a);
  EXPECT_FLOAT_EQ(llm.default_sampling_params().temperature, 0.25f);
  EXPECT_EQ(llm.generate({Prompt::from_token_ids({1, 5, 9})}, llm.default_sampling_params(), false)[0]
                .outputs[0].token_ids.size(), 3u);
  a.generation_config = "vllm";
  EXPECT_FLOAT_EQ(LLM(a).default_sampling_params().temperature, 1.0f);
}

}  // namespace
