// WeightStore::open: format preference, missing folders and weights, lookups of absent names.
#include "io/weight_store.h"

#include <gtest/gtest.h>

#include "common/fixtures.h"
#include "temp_dir.h"
#include "test_util.h"

namespace shardlm {
namespace {

using testing::expect_error;
using testing::TempDir;

TEST(WeightStore, FolderWithoutWeightsListsWhatItLookedFor) {
  TempDir dir;
  dir.write("config.json", "{}");
  expect_error([&] { WeightStore::open(dir.path()); },
               {dir.path(), "no weights", "model.safetensors.index.json", "model.safetensors,",
                "pytorch_model.bin.index.json", "pytorch_model.bin"});
}

TEST(WeightStore, MissingFolder) {
  expect_error([&] { WeightStore::open("/nonexistent/shardlm/model"); },
               {"'/nonexistent/shardlm/model'", "not a directory"});
}

TEST(WeightStore, PrefersSafetensorsOverBin) {
  TempDir dir;
  dir.write("model.safetensors",
            testing::safetensors_bytes(R"({"st":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                       testing::f32_bytes({1})));
  dir.write("pytorch_model.bin", "not read");
  auto store = WeightStore::open(dir.path() + "/");  // a trailing slash is fine
  EXPECT_EQ(store->names(), (std::vector<std::string>{"st"}));
  EXPECT_EQ(store->info("st").file, dir.file("model.safetensors"));
}

TEST(WeightStore, AbsentNameNamesKeyAndFolder) {
  TempDir dir;
  dir.write("model.safetensors",
            testing::safetensors_bytes(R"({"model.norm.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                       testing::f32_bytes({1})));
  auto store = WeightStore::open(dir.path());
  EXPECT_FALSE(store->has("norm.weight"));
  expect_error([&] { store->info("norm.weight"); }, {"tensor 'norm.weight'", dir.path(), "but 'model.norm.weight' is"});
  expect_error([&] { store->get("lm_head.weight"); }, {"tensor 'lm_head.weight'", dir.path(), "1 tensors"});
}

}  // namespace
}  // namespace shardlm
