// read_json_file: values, and messages for missing and malformed files; nesting depth bounded (issue #19
// item 1: "[[[[..." 100k deep crashed the process when a message printed it); values cut in messages.
#include "io/json_file.h"

#include <gtest/gtest.h>

#include "common/fixtures.h"
#include "io/weight_store.h"
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

std::string nested(int depth, const std::string& inner = "1") {
  return std::string((size_t)depth, '[') + inner + std::string((size_t)depth, ']');
}

TEST(JsonFile, NestingPastTheBoundIsAnErrorNotACrash) {
  EXPECT_NO_THROW(parse_json_text(nested(kMaxJsonDepth).data(), nested(kMaxJsonDepth).size(), "x"));
  const std::string deep = nested(kMaxJsonDepth + 1);
  expect_error([&] { parse_json_text(deep.data(), deep.size(), "safetensors header"); },
               {"safetensors header", "nest deeper than 256 levels", "line 1, column 257"});
  TempDir dir;
  const std::string path = dir.write("config.json", R"({"architectures": )" + nested(100000) + "}");
  expect_error([&] { read_json_file(path, "model config"); }, {"model config", path, "nest deeper"});
  // Brackets inside strings (escaped quotes too) are text, not nesting.
  const std::string text = R"({"a": "\")" + std::string(1000, '[') + R"(", "b": [")" + std::string(300, '{') + R"("]})";
  EXPECT_EQ(parse_json_text(text.data(), text.size(), "x")["b"].size(), 1u);
}

TEST(JsonFile, DeepSafetensorsHeaderAndIndexAreErrors) {
  TempDir dir;
  const std::string header = "{\"x\": " + nested(100000) + "}";
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes.push_back((char)((header.size() >> (8 * i)) & 0xff));
  dir.write("model.safetensors", bytes + header);
  expect_error([&] { WeightStore::open(dir.path()); }, {"model.safetensors", "nest deeper"});
  TempDir sharded;
  sharded.write("model.safetensors.index.json", "{\"weight_map\": {\"w\": " + nested(5000, "\"a.safetensors\"") + "}}");
  expect_error([&] { WeightStore::open(sharded.path()); }, {"model.safetensors.index.json", "nest deeper"});
}

TEST(JsonFile, MessagesQuoteValuesInShort) {
  const nlohmann::json big = std::string(10 << 20, 'x');
  const std::string excerpt = json_excerpt(big);
  EXPECT_LT(excerpt.size(), 200u);
  EXPECT_NE(excerpt.find("(10485762 characters)"), std::string::npos) << excerpt;
  EXPECT_EQ(json_excerpt(nlohmann::json::parse("[1, 2]")), "[1,2]");
}

}  // namespace
}  // namespace shardlm
