// config.json / generation_config.json errors: each bad value is refused with one message naming the file and
// the field (tiny-llama copied to a temporary folder, one field edited). Before, rope_theta <= 0 loaded and
// produced garbage, a non-object rope dict or generation_config.json was ignored, `architectures: [5]` gave a
// bare JSON-library error, max_position_embeddings -1 failed deep in Tensor::empty, and an eos_token_id of
// 2^40 became token 0.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "common/fixtures.h"
#include "common/model_harness.h"
#include "io/temp_dir.h"
#include "io/test_util.h"
#include "models/model.h"

using namespace shardlm;
using namespace shardlm::testing;
using nlohmann::json;

namespace {

json read(const std::string& path) {
  std::ifstream f(path);
  return json::parse(f);
}

// tiny-llama in a temporary folder, config.json and generation_config.json passed through `edit_config` and
// `edit_generation` first; the weights are linked, not copied.
class EditedModel {
 public:
  explicit EditedModel(const std::function<void(json&)>& edit_config,
                       const std::function<void(json&)>& edit_generation = nullptr) {
    const std::string src = model_dir("tiny-llama");
    json config = read(src + "/config.json"), generation = read(src + "/generation_config.json");
    edit_config(config);
    if (edit_generation) edit_generation(generation);
    dir_.write("config.json", config.dump(2));
    dir_.write("generation_config.json", generation.dump(2));
    std::filesystem::create_symlink(std::filesystem::absolute(src + "/model.safetensors"), dir_.file("model.safetensors"));
  }
  const std::string& path() const { return dir_.path(); }
  std::string config_file() const { return dir_.file("config.json"); }
  std::string generation_file() const { return dir_.file("generation_config.json"); }
  // What a user hits: the config read, then the model built (the rope fields are read there).
  void load() const { load_cpu_model(path()); }

 private:
  TempDir dir_;
};

TEST(ModelConfig, UneditedCopyLoads) {
  SHARDLM_REQUIRE_FIXTURES();
  EditedModel m([](json&) {});
  EXPECT_NO_THROW(m.load());
  ModelConfig c = load_model_config(m.path());
  EXPECT_EQ(c.eos_token_ids, std::vector<int32_t>{2});
  EXPECT_EQ(c.bos_token_id, 1);
}

TEST(ModelConfig, RopeThetaMustBePositive) {
  SHARDLM_REQUIRE_FIXTURES();
  for (double theta : {0.0, -10000.0}) {
    EditedModel v5([&](json& c) { c["rope_parameters"]["rope_theta"] = theta; });
    expect_error([&] { v5.load(); }, {v5.config_file(), "'rope_parameters.rope_theta' must be a positive number"});
    // transformers v4's spelling: a top-level rope_theta and no scaling.
    EditedModel v4([&](json& c) {
      c.erase("rope_parameters");
      c["rope_scaling"] = nullptr;
      c["rope_theta"] = theta;
    });
    expect_error([&] { v4.load(); }, {v4.config_file(), "'rope_theta' must be a positive number"});
  }
  EditedModel text([](json& c) { c["rope_parameters"]["rope_theta"] = "1e4"; });
  expect_error([&] { text.load(); }, {text.config_file(), "'rope_parameters.rope_theta' must be a number, got \"1e4\""});
}

TEST(ModelConfig, V4RopeSpellingWithNullScalingLoads) {
  SHARDLM_REQUIRE_FIXTURES();
  EditedModel v4([](json& c) {
    c.erase("rope_parameters");
    c["rope_scaling"] = nullptr;
    c["rope_theta"] = 10000.0;
  });
  EXPECT_NO_THROW(v4.load());
}

TEST(ModelConfig, RopeDictsMustBeObjects) {
  SHARDLM_REQUIRE_FIXTURES();
  for (const char* name : {"rope_parameters", "rope_scaling"}) {
    for (const json& bad : {json("default"), json::array({1}), json(2.0)}) {
      EditedModel m([&](json& c) { c[name] = bad; });
      expect_error([&] { m.load(); }, {m.config_file(), std::string("field '") + name + "' must be an object"});
    }
  }
  EditedModel factor([](json& c) { c["rope_parameters"] = {{"rope_type", "linear"}, {"factor", "2"}}; });
  expect_error([&] { factor.load(); }, {factor.config_file(), "'rope_parameters.factor' must be a number"});
  EditedModel partial([](json& c) { c["partial_rotary_factor"] = 0; });
  expect_error([&] { partial.load(); }, {partial.config_file(), "'partial_rotary_factor' must be in (0, 1]"});
}

TEST(ModelConfig, GenerationConfigMustBeAnObject) {
  SHARDLM_REQUIRE_FIXTURES();
  EditedModel m([](json&) {}, [](json& g) { g = json::array({2}); });
  expect_error([&] { load_model_config(m.path()); }, {m.generation_file(), "expected a JSON object"});
}

TEST(ModelConfig, ArchitecturesMustBeNames) {
  SHARDLM_REQUIRE_FIXTURES();
  for (const json& bad : {json::array({5}), json("LlamaForCausalLM"), json::array(), json::array({""})}) {
    EditedModel m([&](json& c) { c["architectures"] = bad; });
    expect_error([&] { load_model_config(m.path()); },
                 {m.config_file(), "field 'architectures' must be a non-empty list of architecture names"});
  }
  EditedModel missing([](json& c) { c.erase("architectures"); });
  expect_error([&] { load_model_config(missing.path()); }, {missing.config_file(), "field 'architectures' is missing"});
}

TEST(ModelConfig, SizesMustBePositive) {
  SHARDLM_REQUIRE_FIXTURES();
  for (int64_t bad : {-1, 0}) {
    EditedModel m([&](json& c) { c["max_position_embeddings"] = bad; });
    expect_error([&] { m.load(); }, {m.config_file(), "field 'max_position_embeddings' must be positive"});
    EditedModel heads([&](json& c) { c["num_key_value_heads"] = bad; });
    expect_error([&] { heads.load(); }, {heads.config_file(), "field 'num_key_value_heads' must be positive"});
    EditedModel head_dim([&](json& c) { c["head_dim"] = bad; });
    expect_error([&] { head_dim.load(); }, {head_dim.config_file(), "field 'head_dim' must be positive"});
  }
}

TEST(ModelConfig, TokenIdsMustFit) {
  SHARDLM_REQUIRE_FIXTURES();
  const json huge = int64_t(1) << 40;
  EditedModel eos([&](json& c) { c["eos_token_id"] = huge; });
  expect_error([&] { load_model_config(eos.path()); }, {eos.config_file(), "field 'eos_token_id' must be an integer token id"});
  EditedModel listed([&](json& c) { c["eos_token_id"] = json::array({2, 2.5}); });
  expect_error([&] { load_model_config(listed.path()); }, {listed.config_file(), "field 'eos_token_id[1]'", "got 2.5"});
  EditedModel gen_eos([](json&) {}, [&](json& g) { g["eos_token_id"] = json::array({2, huge}); });
  expect_error([&] { load_model_config(gen_eos.path()); }, {gen_eos.generation_file(), "field 'eos_token_id[1]'"});
  EditedModel bos([](json& c) { c["bos_token_id"] = true; });
  expect_error([&] { load_model_config(bos.path()); }, {bos.config_file(), "field 'bos_token_id'", "got true"});
  EditedModel gen_bos([](json&) {}, [&](json& g) { g["bos_token_id"] = huge; });
  expect_error([&] { load_model_config(gen_bos.path()); }, {gen_bos.generation_file(), "field 'bos_token_id'"});
  // A list of ids and nulls stay valid.
  EditedModel fine([](json& c) { c["eos_token_id"] = json::array({2, 7}); }, [](json& g) { g.erase("eos_token_id"); g["bos_token_id"] = nullptr; });
  ModelConfig c = load_model_config(fine.path());
  EXPECT_EQ(c.eos_token_ids, (std::vector<int32_t>{2, 7}));
  EXPECT_EQ(c.bos_token_id, 1);
}

}  // namespace
