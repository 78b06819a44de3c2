// Token ids far past the number of tokens (a few bytes that used to allocate gigabytes, or overflow
// `id + 1`) are Errors naming the file and the id; ids up to the documented bound (token_ids.h) still load.
// Tokenizer files that are FIFOs are refused at once instead of blocking.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/expect_error.h"
#include "core/error.h"
#include "temp_dir.h"
#include "tokenizer/token_ids.h"
#include "tokenizer/tokenizer.h"

namespace shardlm::testing {
namespace {


// Three vocabulary entries; `ab` gets `ab_id`, and `added` is the added_tokens array.
nlohmann::json tokenizer_json(int64_t ab_id, nlohmann::json added = nlohmann::json::array()) {
  auto j = nlohmann::json::parse(R"({
    "version": "1.0", "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
    "model": {"type": "BPE", "dropout": null, "unk_token": null, "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}
  })");
  j["model"]["vocab"]["ab"] = ab_id;
  j["added_tokens"] = std::move(added);
  return j;
}

nlohmann::json added_token(int64_t id, const std::string& content) {
  return {{"id", id}, {"content", content}, {"special", true}};
}

TEST(TokenIdBounds, TheBoundIsTheTokenCountPlusSlack) {
  EXPECT_EQ(token_id_limit(3), 3 + kTokenIdSlack);
  EXPECT_EQ(token_id_limit(128256), 128256 + kTokenIdSlack);
  EXPECT_EQ(token_id_limit(size_t{1} << 40), INT32_MAX);  // never past INT32_MAX: id + 1 fits int32_t
}

TEST(TokenIdBounds, VocabIdsFarPastTheVocabularyAreRefused) {
  for (int64_t id : {int64_t{1} << 30, int64_t{INT32_MAX}, 3 + kTokenIdSlack}) {
    SCOPED_TRACE(id);
    TempDir dir;
    dir.write("tokenizer.json", tokenizer_json(id).dump());
    expect_error([&] { Tokenizer::from_dir(dir.path()); },
                 {dir.file("tokenizer.json"), "model", "token 'ab' has id " + std::to_string(id), "must be below"});
  }
}

TEST(TokenIdBounds, IdsUpToTheBoundLoad) {
  TempDir dir;
  const int64_t last = 3 + kTokenIdSlack - 1;  // 3 entries: the largest id accepted
  dir.write("tokenizer.json", tokenizer_json(last).dump());
  const auto tok = Tokenizer::from_dir(dir.path());
  EXPECT_EQ(tok->vocab_size(), last + 1);
  EXPECT_EQ(tok->encode("ab", false), (std::vector<int32_t>{static_cast<int32_t>(last)}));
  EXPECT_EQ(tok->decode({static_cast<int32_t>(last)}), "ab");
}

TEST(TokenIdBounds, AddedTokenIdsFarPastTheVocabularyAreRefused) {
  for (int64_t id : {int64_t{1} << 30, int64_t{INT32_MAX}}) {
    SCOPED_TRACE(id);
    TempDir dir;
    dir.write("tokenizer.json", tokenizer_json(2, {added_token(3, "<s>"), added_token(id, "</s>")}).dump());
    expect_error([&] { Tokenizer::from_dir(dir.path()); },
                 {dir.file("tokenizer.json"), "added_tokens[1].id", "token '</s>' has id " + std::to_string(id)});
  }
  TempDir dir;  // 3 entries + 2 added tokens: ids up to 4 + slack load
  dir.write("tokenizer.json",
            tokenizer_json(2, {added_token(3, "<s>"), added_token(4 + kTokenIdSlack, "</s>")}).dump());
  EXPECT_EQ(Tokenizer::from_dir(dir.path())->vocab_size(), 5 + kTokenIdSlack);
}

TEST(TokenIdBounds, Gpt2FilesIdsAreBounded) {
  const std::string vocab = R"({"a": 0, "b": 1, "ab": 2})";
  {
    TempDir dir;  // vocab.json
    dir.write("vocab.json", R"({"a": 0, "b": 1, "ab": 2147483647})");
    dir.write("merges.txt", "a b\n");
    expect_error([&] { Tokenizer::from_dir(dir.path()); },
                 {dir.file("vocab.json"), "token 'ab' has id 2147483647", "must be below"});
  }
  {
    TempDir dir;  // added_tokens.json: INT32_MAX used to overflow next_free_id
    dir.write("vocab.json", vocab);
    dir.write("merges.txt", "a b\n");
    dir.write("added_tokens.json", R"({"<x>": 2147483647})");
    dir.write("tokenizer_config.json", R"({"eos_token": "</s>"})");
    expect_error([&] { Tokenizer::from_dir(dir.path()); },
                 {dir.file("added_tokens.json"), "token '<x>' has id 2147483647"});
  }
  {
    TempDir dir;  // tokenizer_config.json's added_tokens_decoder
    dir.write("vocab.json", vocab);
    dir.write("merges.txt", "a b\n");
    dir.write("tokenizer_config.json",
              R"({"added_tokens_decoder": {"1073741824": {"content": "<big>", "special": true}}})");
    expect_error([&] { Tokenizer::from_dir(dir.path()); },
                 {dir.file("tokenizer_config.json"), "added_tokens_decoder.1073741824", "token '<big>' has id 1073741824"});
  }
  {
    TempDir dir;  // special tokens not in the vocabulary take the next free ids after the largest
    dir.write("vocab.json", vocab);
    dir.write("merges.txt", "a b\n");
    dir.write("added_tokens.json", R"({"<x>": 9})");
    dir.write("tokenizer_config.json", R"({"bos_token": "<s>", "eos_token": "</s>"})");
    const auto tok = Tokenizer::from_dir(dir.path());
    EXPECT_EQ(tok->bos_token_id(), 10);
    EXPECT_EQ(tok->eos_token_id(), 11);
    EXPECT_EQ(tok->vocab_size(), 12);
  }
}

TEST(TokenIdBounds, FifoTokenizerFilesAreRefusedAtOnce) {
  {
    TempDir dir;
    ASSERT_EQ(::mkfifo(dir.file("tokenizer.json").c_str(), 0600), 0);
    expect_error_without_blocking(dir.file("tokenizer.json"), [&] { Tokenizer::from_dir(dir.path()); },
                                  {dir.file("tokenizer.json"), "FIFO"});
  }
  {
    TempDir dir;
    dir.write("tokenizer.json", tokenizer_json(2).dump());
    ASSERT_EQ(::mkfifo(dir.file("tokenizer_config.json").c_str(), 0600), 0);
    expect_error_without_blocking(dir.file("tokenizer_config.json"), [&] { Tokenizer::from_dir(dir.path()); },
                                  {dir.file("tokenizer_config.json"), "FIFO"});
  }
  {
    TempDir dir;
    dir.write("vocab.json", R"({"a": 0, "b": 1, "ab": 2})");
    ASSERT_EQ(::mkfifo(dir.file("merges.txt").c_str(), 0600), 0);
    expect_error_without_blocking(dir.file("merges.txt"), [&] { Tokenizer::from_dir(dir.path()); },
                                  {dir.file("merges.txt"), "FIFO"});
  }
#ifdef SHARDLM_HAVE_SENTENCEPIECE
  {
    TempDir dir;
    ASSERT_EQ(::mkfifo(dir.file("tokenizer.model").c_str(), 0600), 0);
    expect_error_without_blocking(dir.file("tokenizer.model"), [&] { Tokenizer::from_dir(dir.path()); },
                                  {dir.file("tokenizer.model"), "FIFO"});
  }
#endif
}

}  // namespace
}  // namespace shardlm::testing
