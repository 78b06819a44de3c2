// A folder with only tokenizer.model is read with SentencePiece; Mistral v0.3's golden `spm_ids` are
// SentencePiece's own encoding of the corpus (specials as plain text, no BOS).
#include <gtest/gtest.h>

#include "core/error.h"
#include "golden_util.h"
#include "temp_dir.h"

namespace shardlm::testing {
namespace {

TEST(SentencePieceModel, EncodesLikeSentencePiece) {
  SHARDLM_REQUIRE_FIXTURES();
#ifndef SHARDLM_HAVE_SENTENCEPIECE
  GTEST_SKIP() << "built without SentencePiece";
#endif
  TempDir dir;
  dir.copy_from(tokenizer_dir("mistral-v03") + "/tokenizer.model", "tokenizer.model");
  const auto tok = Tokenizer::from_dir(dir.path());
  int passed = 0, total = 0;
  for (const GoldenCase& c : read_golden(tokenizer_dir("mistral-v03") + "/golden.jsonl")) {
    ASSERT_TRUE(c.raw.contains("spm_ids"));
    const auto spm_ids = c.raw["spm_ids"].get<std::vector<int32_t>>();
    const auto spm_decoded = c.raw["spm_decoded"].get<std::string>();
    const auto ids = tok->encode(c.text, false);
    const auto decoded = tok->decode(spm_ids, false);
    EXPECT_EQ(ids, spm_ids) << "#" << c.index << " " << c.raw["text"];
    EXPECT_EQ(decoded, spm_decoded) << "#" << c.index;
    ++total;
    passed += ids == spm_ids && decoded == spm_decoded;
  }
  std::cout << "[sentencepiece] mistral-v03 tokenizer.model: " << passed << "/" << total << " match spm_ids\n";
}

TEST(SentencePieceModel, SpecialTokensAndBos) {
  SHARDLM_REQUIRE_FIXTURES();
#ifndef SHARDLM_HAVE_SENTENCEPIECE
  GTEST_SKIP() << "built without SentencePiece";
#endif
  TempDir dir;
  dir.copy_from(tokenizer_dir("mistral-v03") + "/tokenizer.model", "tokenizer.model");
  const auto tok = Tokenizer::from_dir(dir.path());
  EXPECT_EQ(tok->vocab_size(), 32768);
  EXPECT_EQ(tok->bos_token_id(), 1);
  EXPECT_EQ(tok->eos_token_id(), 2);
  EXPECT_TRUE(tok->is_special(1));
  EXPECT_TRUE(tok->is_special(2));
  EXPECT_FALSE(tok->is_special(23325));
  EXPECT_EQ(tok->id_to_token(23325), "\xE2\x96\x81Hello");
  // Golden spm_ids of "Hello" plus the default BOS.
  EXPECT_EQ(tok->encode("Hello", true), (std::vector<int32_t>{1, 23325}));
  EXPECT_EQ(tok->decode({1, 23325, 2}, true), "Hello");
  EXPECT_EQ(tok->decode({1, 23325, 2}, false), "<s>Hello</s>");
  EXPECT_THROW(tok->decode({32768}), Error);
}

}  // namespace
}  // namespace shardlm::testing
