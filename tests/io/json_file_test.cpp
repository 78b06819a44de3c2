// read_json_file: values, and messages for missing and malformed files.
#include "io/json_file.h"

#include <gtest/gtest.h>

#include "common/fixtures.h"
#include "temp_dir.h"
#include "test_util.h"

namespace shardlm {
namespace {

using testing::expect_error;
using testing::TempDir;

TEST(JsonFile, ReadsFixtureConfig) {
  SHARDLM_REQUIRE_FIXTURES();
  nlohmann::json config = read_json_file(testing::model_dir("tiny-opt") + "/config.json", "model config");
  EXPECT_EQ(config["model_type"], "opt");
  EXPECT_EQ(config["hidden_size"], 64);
}

TEST(JsonFile, MissingFile) {
  TempDir dir;
  expect_error([&] { read_json_file(dir.file("config.json"), "model config"); },
               {"model config", dir.file("config.json"), "No such file or directory"});
  expect_error([&] { read_json_file(dir.path(), "model config"); }, {"is a directory"});
}

TEST(JsonFile, MalformedJsonGivesLineAndColumn) {
  TempDir dir;
  std::string path = dir.write("config.json", "{\n  \"hidden_size\": 64,\n  \"vocab_size\": ,\n}\n");
  expect_error([&] { read_json_file(path, "model config"); },
               {"model config", path, "not valid JSON", "line 3, column 17", "unexpected ','"});
  std::string empty = dir.write("empty.json", "");
  expect_error([&] { read_json_file(empty, "tokenizer config"); }, {"tokenizer config", "line 1, column 1"});
}

}  // namespace
}  // namespace shardlm
