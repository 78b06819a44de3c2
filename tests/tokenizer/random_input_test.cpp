// Random inputs: any in-range id sequence decodes to valid UTF-8 (streamed or not), and random Unicode
// text round-trips through the byte-level tokenizers, which keep every byte.
#include <gtest/gtest.h>

#include <random>

#include "golden_util.h"
#include "tokenizer/utf8.h"

namespace shardlm::testing {
namespace {

std::string random_text(std::mt19937& rng) {
  // Mostly ASCII with spaces/newlines, some Latin-1, CJK, emoji and combining marks.
  static const char32_t kPool[] = {'a', 'b', 'Z', ' ', ' ', '\n', '\t', '1', '\'', 's', '.', '<', '|', '>',
                                   0xE9, 0x301, 0x4E2D, 0x6587, 0x1F600, 0x1F44D, 0x200D, 0xFE0F, 0x0627, 0x3000};
  std::uniform_int_distribution<size_t> pick(0, std::size(kPool) - 1), len(0, 40);
  std::string s;
  for (size_t n = len(rng); n > 0; --n) utf8::append(s, kPool[pick(rng)]);
  return s;
}

TEST(RandomInput, DecodingAnyIdsGivesValidUtf8) {
  SHARDLM_REQUIRE_FIXTURES();
  std::mt19937 rng(1234);
  for (const GoldenFolder& folder : golden_folders()) {
    const Tokenizer& tok = cached_tokenizer(folder.dir);
    std::uniform_int_distribution<int32_t> any_id(0, tok.vocab_size() - 1);
    for (int trial = 0; trial < 100; ++trial) {
      std::vector<int32_t> ids(1 + trial % 17);
      for (int32_t& id : ids) id = any_id(rng);
      for (bool skip : {true, false}) {
        const std::string text = tok.decode(ids, skip);
        EXPECT_EQ(utf8::first_invalid_offset(text), std::string::npos) << folder.name;
        IncrementalDetokenizer detok(tok, {}, skip);
        for (int32_t id : ids) EXPECT_EQ(utf8::first_invalid_offset(detok.push(id)), std::string::npos);
        detok.flush();
        // Streaming equals decoding, unless the text itself contains U+FFFD (then the cut points can differ).
        if (text.find(utf8::kReplacementChar) == std::string::npos) {
          EXPECT_EQ(detok.text(), text) << folder.name;
        }
      }
    }
  }
}

TEST(RandomInput, ByteLevelTokenizersRoundTrip) {
  SHARDLM_REQUIRE_FIXTURES();
  std::mt19937 rng(99);
  for (const char* name : {"gpt2", "opt", "llama3"}) {
    const Tokenizer& tok = cached_tokenizer(tokenizer_dir(name));
    for (int trial = 0; trial < 300; ++trial) {
      const std::string text = random_text(rng);
      // Text that spells an added token ("<|endoftext|>", "</s>") cannot appear: '/' and letters
      // like 'e' are not in the pool, so every byte goes through the BPE model.
      EXPECT_EQ(tok.decode(tok.encode(text, false), false), text) << name << " trial " << trial;
    }
  }
}

}  // namespace
}  // namespace shardlm::testing
