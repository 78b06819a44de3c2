// Unit tests of the pieces against hand-computed values and Hugging Face tokenizers' outputs:
// lossy UTF-8, Unicode normalization, added-token flags, BOS/EOS rules.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "golden_util.h"
#include "temp_dir.h"
#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"

namespace shardlm::testing {
namespace {

const std::string kFFFD = "\xEF\xBF\xBD";

TEST(Utf8, LossyReplacesMaximalSubparts) {
  // Examples of the Unicode standard's "U+FFFD substitution of maximal subparts" (Table 3-8 style).
  EXPECT_EQ(utf8::from_bytes_lossy("abc"), "abc");
  EXPECT_EQ(utf8::from_bytes_lossy("\xC3"), kFFFD);                       // truncated 2-byte
  EXPECT_EQ(utf8::from_bytes_lossy("\xE4\xB8"), kFFFD);                   // truncated 3-byte: one subpart
  EXPECT_EQ(utf8::from_bytes_lossy("\xE4\xB8" "a"), kFFFD + "a");
  EXPECT_EQ(utf8::from_bytes_lossy("\xC0\xAF"), kFFFD + kFFFD);           // C0 never starts a sequence
  EXPECT_EQ(utf8::from_bytes_lossy("\xED\xA0\x80"), kFFFD + kFFFD + kFFFD);  // surrogate: A0 not allowed after ED
  EXPECT_EQ(utf8::from_bytes_lossy("\xF0\x9F\x98"), kFFFD);
  EXPECT_EQ(utf8::from_bytes_lossy("\xF0\x9F\x98\x81"), "\xF0\x9F\x98\x81");
  EXPECT_EQ(utf8::from_bytes_lossy("\x80\xBF"), kFFFD + kFFFD);
  EXPECT_EQ(utf8::from_bytes_lossy("\xF4\x90\x80\x80"), kFFFD + kFFFD + kFFFD + kFFFD);  // > U+10FFFF
}

TEST(Unicode, NormalForms) {
  // e + COMBINING ACUTE composes to U+00E9; U+00E9 decomposes back.
  EXPECT_EQ(unicode::normalize("e\xCC\x81", unicode::NormalForm::NFC), "\xC3\xA9");
  EXPECT_EQ(unicode::normalize("\xC3\xA9", unicode::NormalForm::NFD), "e\xCC\x81");
  // Canonical reordering: dot below (ccc 220) before acute (ccc 230), then compose: U+1EB9 U+0301.
  EXPECT_EQ(unicode::normalize("e\xCC\x81\xCC\xA3", unicode::NormalForm::NFC), "\xE1\xBA\xB9\xCC\x81");
  // Hangul: U+1100 U+1161 U+11A8 composes to U+AC01.
  EXPECT_EQ(unicode::normalize("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", unicode::NormalForm::NFC), "\xEA\xB0\x81");
  EXPECT_EQ(unicode::normalize("\xEA\xB0\x81", unicode::NormalForm::NFD), "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8");
  // Compatibility: the "fi" ligature U+FB01 and fullwidth 'Ａ' U+FF21 only change under NFK*.
  EXPECT_EQ(unicode::normalize("\xEF\xAC\x81", unicode::NormalForm::NFC), "\xEF\xAC\x81");
  EXPECT_EQ(unicode::normalize("\xEF\xAC\x81\xEF\xBC\xA1", unicode::NormalForm::NFKC), "fiA");
  // U+0958 (DEVANAGARI QA) is a composition exclusion: NFC leaves it decomposed.
  EXPECT_EQ(unicode::normalize("\xE0\xA5\x98", unicode::NormalForm::NFC), "\xE0\xA4\x95\xE0\xA4\xBC");
}

TEST(Unicode, Lowercase) {
  EXPECT_EQ(unicode::to_lowercase("HeLLo \xC3\x84\xCE\xA3"), "hello \xC3\xA4\xCF\x83");  // Ä -> ä, Σ -> σ
  EXPECT_EQ(unicode::to_lowercase("\xC4\xB0"), "i\xCC\x87");  // İ -> i + combining dot above
}

// stories260K's tokenizer.json with added tokens that exercise every flag. Expected ids and texts are
// Hugging Face tokenizers 0.23's output for the same file.
class AddedTokenFlags : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_fixtures()) GTEST_SKIP() << "fixtures absent";
    std::ifstream in(model_dir("stories260K") + "/tokenizer.json");
    nlohmann::json j = nlohmann::json::parse(in);
    auto add = [&](int id, const char* content, bool single_word, bool lstrip, bool rstrip, bool normalized,
                   bool special) {
      j["added_tokens"].push_back({{"id", id}, {"content", content}, {"single_word", single_word},
                                   {"lstrip", lstrip}, {"rstrip", rstrip}, {"normalized", normalized},
                                   {"special", special}});
    };
    add(512, "<tool>", false, true, true, false, false);
    add(513, "cat", true, false, false, false, false);
    add(514, "dog", false, false, false, true, false);
    add(515, "<sep>", false, false, false, false, true);
    dir_.write("tokenizer.json", j.dump());
    tok_ = Tokenizer::from_dir(dir_.path());
  }
  TempDir dir_;
  std::unique_ptr<Tokenizer> tok_;
};

TEST_F(AddedTokenFlags, LstripRstripSwallowWhitespace) {
  EXPECT_EQ(tok_->encode("Hi  <tool>  there"), (std::vector<int32_t>{1, 320, 417, 512, 383}));
  EXPECT_EQ(tok_->decode({1, 320, 417, 512, 383}, true), "Hi<tool> there");
  EXPECT_EQ(tok_->encode(" <tool>x<tool>", false), (std::vector<int32_t>{512, 410, 444, 512}));
}

TEST_F(AddedTokenFlags, SingleWordOnlyOutsideWords) {
  EXPECT_EQ(tok_->encode("cat concat cat. cats", false),
            (std::vector<int32_t>{513, 410, 280, 289, 429, 294, 410, 513, 410, 426, 280, 294, 419}));
}

TEST_F(AddedTokenFlags, NormalizedTokensMatchTheNormalizedText) {
  // With the Prepend("▁") normalizer the token "dog" is searched for as "▁dog".
  EXPECT_EQ(tok_->encode("dog hotdog", false), (std::vector<int32_t>{514, 270, 309, 418, 414, 428}));
}

TEST_F(AddedTokenFlags, SpecialTokensAreSkippedWhenDecoding) {
  EXPECT_EQ(tok_->encode("a<sep>b"), (std::vector<int32_t>{1, 261, 515, 268}));
  EXPECT_EQ(tok_->decode({1, 261, 515, 268}, true), "a b");
  EXPECT_EQ(tok_->decode({1, 261, 515, 268}, false), "<s> a<sep> b");
  EXPECT_TRUE(tok_->is_special(515));
  EXPECT_FALSE(tok_->is_special(512));
  EXPECT_EQ(tok_->vocab_size(), 516);
  EXPECT_EQ(tok_->id_to_token(514), "dog");
}

TEST(SpecialTokenIds, FromTokenizerConfig) {
  SHARDLM_REQUIRE_FIXTURES();
  // Values from each folder's golden header (transformers' bos_token_id / eos_token_id).
  const Tokenizer& opt = cached_tokenizer(tokenizer_dir("opt"));
  EXPECT_EQ(opt.bos_token_id(), 2);
  EXPECT_EQ(opt.eos_token_id(), 2);
  EXPECT_EQ(opt.vocab_size(), 50265);
  const Tokenizer& qwen = cached_tokenizer(tokenizer_dir("qwen3"));
  EXPECT_EQ(qwen.bos_token_id(), std::nullopt);
  EXPECT_EQ(qwen.eos_token_id(), 151645);
  EXPECT_EQ(qwen.vocab_size(), 151669);
  EXPECT_TRUE(qwen.is_special(151643));
  EXPECT_FALSE(qwen.is_special(151657));  // <tool_call> is an added token but not special
  const Tokenizer& llama3 = cached_tokenizer(tokenizer_dir("llama3"));
  EXPECT_EQ(llama3.bos_token_id(), 128000);
  EXPECT_EQ(llama3.eos_token_id(), 128001);
  EXPECT_EQ(llama3.vocab_size(), 128256);
  const Tokenizer& gpt2 = cached_tokenizer(tokenizer_dir("gpt2"));
  EXPECT_EQ(gpt2.bos_token_id(), 50256);
  EXPECT_EQ(gpt2.eos_token_id(), 50256);
  EXPECT_EQ(gpt2.id_to_token(50256), "<|endoftext|>");
  EXPECT_EQ(gpt2.id_to_token(220), "\xC4\xA0");  // "Ġ": a space in GPT-2's byte alphabet
}

TEST(SpecialTokenIds, OptPrependsEosAsBos) {
  SHARDLM_REQUIRE_FIXTURES();
  // vLLM's prompt ids for facebook/opt-125m, and the same vocabulary in the tiny-opt model folder.
  for (const std::string& dir : {tokenizer_dir("opt"), model_dir("tiny-opt")}) {
    const auto tok = Tokenizer::from_dir(dir);
    EXPECT_EQ(tok->encode("Hello, my name is"), (std::vector<int32_t>{2, 31414, 6, 127, 766, 16})) << dir;
  }
}

// transformers' Llama tokenizer classes rebuild the template from add_bos_token/add_eos_token.
TEST(SpecialTokenIds, LlamaConfigFlagsDecideBosAndEos) {
  SHARDLM_REQUIRE_FIXTURES();
  const std::string source = model_dir("stories260K");
  // Golden: "Hello, my name is" without special tokens.
  const std::vector<int32_t> body = {346, 306, 414, 432, 284, 422, 390, 411, 410, 293};
  auto make = [&](const std::string& config) {
    auto dir = std::make_unique<TempDir>();
    dir->copy_from(source + "/tokenizer.json", "tokenizer.json");
    dir->write("tokenizer_config.json", config);
    return dir;
  };
  {
    auto dir = make(R"({"tokenizer_class": "LlamaTokenizerFast", "add_bos_token": true, "add_eos_token": true,
                        "bos_token": "<s>", "eos_token": "</s>"})");
    std::vector<int32_t> expected = {1};
    expected.insert(expected.end(), body.begin(), body.end());
    expected.push_back(2);
    EXPECT_EQ(Tokenizer::from_dir(dir->path())->encode("Hello, my name is"), expected);
  }
  {
    auto dir = make(R"({"tokenizer_class": "LlamaTokenizerFast", "add_bos_token": false,
                        "bos_token": "<s>", "eos_token": "</s>"})");
    EXPECT_EQ(Tokenizer::from_dir(dir->path())->encode("Hello, my name is"), body);
  }
  {
    // Other classes keep tokenizer.json's post-processor (BOS only here).
    auto dir = make(R"({"tokenizer_class": "PreTrainedTokenizerFast", "add_eos_token": true,
                        "bos_token": "<s>", "eos_token": "</s>"})");
    std::vector<int32_t> expected = {1};
    expected.insert(expected.end(), body.begin(), body.end());
    EXPECT_EQ(Tokenizer::from_dir(dir->path())->encode("Hello, my name is"), expected);
  }
}

// stories260K's generation golden: the reference text of the greedy ids.
TEST(GenerationGolden, Stories260KTextDecodes) {
  SHARDLM_REQUIRE_FIXTURES();
  std::ifstream in(model_dir("stories260K") + "/golden.json");
  const nlohmann::json g = nlohmann::json::parse(in);
  const Tokenizer& tok = cached_tokenizer(model_dir("stories260K"));
  EXPECT_EQ(tok.decode(g["ids"].get<std::vector<int32_t>>(), true), g["text"].get<std::string>());
  EXPECT_EQ(tok.decode(g["ids_with_bos"].get<std::vector<int32_t>>(), true),
            g["text_with_bos_skip_special"].get<std::string>());
}

}  // namespace
}  // namespace shardlm::testing
