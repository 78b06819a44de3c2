// How config.json's rope fields are read, on the corners where transformers (5.17 and 5.24 alike) has its own
// rules; the expected values are what transformers' LlamaConfig / rope init functions produce for these configs.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "layers/rotary.h"

using namespace shardlm;
using nlohmann::json;

namespace {

json llama_config(json rope_scaling) {
  return json{{"rope_theta", 10000.0}, {"max_position_embeddings", 256}, {"rope_scaling", std::move(rope_scaling)}};
}

RopeConfig parse(const json& config) { return parse_rope_config(config, 16, 256, "test/config.json"); }

TEST(RopeConfig, TopLevelOriginalMaxPositionEmbeddingsWins) {
  // transformers' standardize_rope_params: a config attribute original_max_position_embeddings overrides the
  // one inside the llama3 / yarn scaling dict.
  json c = llama_config({{"type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                         {"original_max_position_embeddings", 64}});
  EXPECT_EQ(parse(c).original_max_position_embeddings, 64);
  c["original_max_position_embeddings"] = 16;
  EXPECT_EQ(parse(c).original_max_position_embeddings, 16);
}

TEST(RopeConfig, YarnWithoutFactorUsesContextRatio) {
  // factor null: max_position_embeddings / original (256 / 64 = 4); cos/sin scaled by 0.1 ln 4 + 1.
  RopeConfig rc = parse(llama_config({{"rope_type", "yarn"}, {"factor", nullptr}, {"original_max_position_embeddings", 64}}));
  EXPECT_DOUBLE_EQ(rc.factor, 4.0);
  RotaryEmbedding rope(rc, 8, Device::CPU);
  EXPECT_NEAR(rope.cos_sin().data<float>()[0], 1.1386294361, 1e-6);  // cos(0) * attention factor
}

TEST(RopeConfig, YarnBetaZeroMeansDefault) {
  RopeConfig rc = parse(llama_config(
      {{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 64}, {"beta_fast", 0}, {"beta_slow", 0}}));
  EXPECT_EQ(rc.beta_fast, 32.0);
  EXPECT_EQ(rc.beta_slow, 1.0);
}

TEST(RopeConfig, DynamicIsDefaultRopeWithinMaxPositionEmbeddings) {
  // transformers compares the sequence length with max_position_embeddings, never with an
  // original_max_position_embeddings in the dict, and keeps the default frequencies up to it.
  RopeConfig dyn = parse(llama_config({{"type", "dynamic"}, {"factor", 2.0}, {"original_max_position_embeddings", 32}}));
  RotaryEmbedding table(dyn, 256, Device::CPU);
  // Row p, column i: cos(p * 10000^(-2i/16)); at p = 100, i = 1: cos(100 / 10000^(1/8)).
  const float* row = table.cos_sin().data<float>() + 100 * 16;
  EXPECT_NEAR(row[1], std::cos(100.0 / std::pow(10000.0, 1.0 / 8.0)), 1e-5);
  EXPECT_NEAR(row[8 + 1], std::sin(100.0 / std::pow(10000.0, 1.0 / 8.0)), 1e-5);
}

TEST(RopeConfig, ScalingWithoutOriginalContextIsRefused) {
  json c = llama_config({{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 0}});
  try {
    parse(c);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("test/config.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("original_max_position_embeddings"), std::string::npos) << e.what();
  }
}

}  // namespace
