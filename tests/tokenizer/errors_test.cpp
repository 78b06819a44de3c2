// Bad input gives a shardlm::Error that names the folder/file/field/value, never a crash.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "golden_util.h"
#include "common/expect_error.h"
#include "temp_dir.h"

namespace shardlm::testing {
namespace {


// A small valid tokenizer.json to break one field at a time.
nlohmann::json tiny_tokenizer_json() {
  return nlohmann::json::parse(R"({
    "version": "1.0", "added_tokens": [], "normalizer": null, "pre_tokenizer": null,
    "post_processor": null, "decoder": null,
    "model": {"type": "BPE", "dropout": null, "unk_token": null, "vocab": {"a": 0, "b": 1, "ab": 2},
              "merges": ["a b"]}
  })");
}

TEST(TokenizerErrors, MissingFolderAndFiles) {
  expect_error([] { Tokenizer::from_dir("/nonexistent/shardlm/folder"); }, {"/nonexistent/shardlm/folder"});
  TempDir dir;
  expect_error([&] { Tokenizer::from_dir(dir.path()); },
               {dir.path(), "tokenizer.json", "vocab.json", "merges.txt", "tokenizer.model"});
  dir.write("vocab.json", R"({"a": 0})");
  expect_error([&] { Tokenizer::from_dir(dir.path()); }, {dir.path(), "merges.txt"});
}

TEST(TokenizerErrors, MalformedJson) {
  TempDir dir;
  dir.write("tokenizer.json", "{\"model\": {\"type\": \"BPE\", ");
  expect_error([&] { Tokenizer::from_dir(dir.path()); }, {dir.file("tokenizer.json"), "not valid JSON"});
  dir.write("tokenizer.json", "[1, 2]");
  expect_error([&] { Tokenizer::from_dir(dir.path()); }, {dir.file("tokenizer.json"), "object"});
  // Nesting 100k deep used to crash the process when an error message printed the value (issue #19).
  dir.write("tokenizer.json", R"({"model": )" + std::string(100000, '[') + std::string(100000, ']') + "}");
  expect_error([&] { Tokenizer::from_dir(dir.path()); }, {dir.file("tokenizer.json"), "nest deeper than"});
}

TEST(TokenizerErrors, UnknownModelType) {
  TempDir dir;
  auto j = tiny_tokenizer_json();
  j["model"]["type"] = "Unigram";
  dir.write("tokenizer.json", j.dump());
  expect_error([&] { Tokenizer::from_dir(dir.path()); }, {dir.file("tokenizer.json"), "model.type", "Unigram"});
}

TEST(TokenizerErrors, UnknownComponentTypes) {
  const std::pair<const char*, const char*> cases[] = {{"normalizer", "NFKCasefold"},
                                                       {"pre_tokenizer", "BertPreTokenizer"},
                                                       {"post_processor", "Fancy"},
                                                       {"decoder", "WordPiece"}};
  for (const auto& [field, type] : cases) {
    TempDir dir;
    auto j = tiny_tokenizer_json();
    j[field] = {{"type", type}};
    dir.write("tokenizer.json", j.dump());
    expect_error([&] { Tokenizer::from_dir(dir.path()); }, {dir.file("tokenizer.json"), field, type});
  }
}

TEST(TokenizerErrors, MalformedFields) {
  {
    TempDir dir;
    auto j = tiny_tokenizer_json();
    j["model"]["merges"] = {"a b c"};
    dir.write("tokenizer.json", j.dump());
    expect_error([&] { Tokenizer::from_dir(dir.path()); }, {"model.merges[0]", "a b c"});
  }
  {
    TempDir dir;
    auto j = tiny_tokenizer_json();
    j["model"]["merges"] = {"a z"};
    dir.write("tokenizer.json", j.dump());
    expect_error([&] { Tokenizer::from_dir(dir.path()); }, {"merge 0", "'z'", "not in the vocabulary"});
  }
  {
    TempDir dir;
    auto j = tiny_tokenizer_json();
    j["model"]["vocab"]["c"] = "three";
    dir.write("tokenizer.json", j.dump());
    expect_error([&] { Tokenizer::from_dir(dir.path()); }, {"model.vocab.c", "\"three\""});
  }
  {
    TempDir dir;
    auto j = tiny_tokenizer_json();
    j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
    dir.write("tokenizer.json", j.dump());
    expect_error([&] { Tokenizer::from_dir(dir.path()); }, {"pre_tokenizer.pattern", "(unclosed", "does not compile"});
  }
  {
    TempDir dir;
    auto j = tiny_tokenizer_json();
    j["model"].erase("vocab");
    dir.write("tokenizer.json", j.dump());
    expect_error([&] { Tokenizer::from_dir(dir.path()); }, {"model.vocab", "missing"});
  }
  {
    TempDir dir;
    dir.write("vocab.json", R"({"a": 0, "b": 1})");
    dir.write("merges.txt", "#version: 0.2\na b\n");
    expect_error([&] { Tokenizer::from_dir(dir.path()); }, {"merge 0", "'ab'", "not in the vocabulary"});
    dir.write("merges.txt", "#version: 0.2\nab\n");
    expect_error([&] { Tokenizer::from_dir(dir.path()); }, {dir.file("merges.txt"), ":2:", "\"ab\""});
  }
  {
    TempDir dir;
    dir.write("tokenizer.json", tiny_tokenizer_json().dump());
    dir.write("tokenizer_config.json", R"({"add_bos_token": "yes"})");
    expect_error([&] { Tokenizer::from_dir(dir.path()); }, {dir.file("tokenizer_config.json"), "add_bos_token"});
  }
}

TEST(TokenizerErrors, NotASentencePieceModel) {
#ifndef SHARDLM_HAVE_SENTENCEPIECE
  GTEST_SKIP() << "built without SentencePiece";
#endif
  TempDir dir;
  dir.write("tokenizer.model", "this is not a protobuf");
  expect_error([&] { Tokenizer::from_dir(dir.path()); }, {dir.file("tokenizer.model")});
}

TEST(TokenizerErrors, BadIdsAndText) {
  TempDir dir;
  dir.write("tokenizer.json", tiny_tokenizer_json().dump());
  const auto tok = Tokenizer::from_dir(dir.path());
  EXPECT_EQ(tok->vocab_size(), 3);
  expect_error([&] { tok->decode({0, 3}); }, {"token id 3"});
  expect_error([&] { tok->decode({-5}); }, {"token id -5"});
  EXPECT_EQ(tok->id_to_token(3), "");
  EXPECT_EQ(tok->id_to_token(-1), "");
  expect_error([&] { tok->encode(std::string("ab\xC3", 3)); }, {"UTF-8", "offset 2"});
  expect_error([&] { tok->encode("\xED\xA0\x80"); }, {"UTF-8", "offset 0"});  // a UTF-16 surrogate
  EXPECT_EQ(tok->encode("abba"), (std::vector<int32_t>{2, 1, 0}));
}

}  // namespace
}  // namespace shardlm::testing
