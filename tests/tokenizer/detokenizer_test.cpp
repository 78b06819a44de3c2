// IncrementalDetokenizer: streaming the golden ids one at a time reproduces decode() exactly, and no
// delta ends inside a UTF-8 character.
#include <gtest/gtest.h>

#include "golden_util.h"
#include "tokenizer/utf8.h"

namespace shardlm::testing {
namespace {

struct StreamResult {
  std::string text;
  int bad_deltas = 0;  // deltas that are not whole UTF-8 characters
};

StreamResult stream(const Tokenizer& tok, const std::vector<int32_t>& prompt, const std::vector<int32_t>& output,
                    bool skip_special) {
  IncrementalDetokenizer detok(tok, prompt, skip_special);
  StreamResult r;
  for (int32_t id : output) {
    const std::string delta = detok.push(id);
    r.bad_deltas += utf8::first_invalid_offset(delta) != std::string::npos;
    r.text += delta;
  }
  const std::string rest = detok.flush();
  r.bad_deltas += utf8::first_invalid_offset(rest) != std::string::npos;
  r.text += rest;
  EXPECT_EQ(detok.text(), r.text);
  return r;
}

TEST(IncrementalDetokenizer, StreamingGoldenIdsEqualsDecodeForEveryFolder) {
  SHARDLM_REQUIRE_FIXTURES();
  for (const GoldenFolder& folder : golden_folders()) {
    const Tokenizer& tok = cached_tokenizer(folder.dir);
    int passed = 0, total = 0;
    for (const GoldenCase& c : read_golden(folder.golden_path)) {
      for (bool skip : {true, false}) {
        ++total;
        const StreamResult r = stream(tok, {}, c.ids_with_special, skip);
        const std::string expected = tok.decode(c.ids_with_special, skip);
        EXPECT_EQ(r.text, expected) << folder.name << " #" << c.index << " skip=" << skip;
        EXPECT_EQ(r.bad_deltas, 0) << folder.name << " #" << c.index;
        passed += r.text == expected && r.bad_deltas == 0;
      }
      // Skipping special tokens, the concatenation is the golden skip-special text itself.
      EXPECT_EQ(stream(tok, {}, c.ids_with_special, true).text, c.decoded_skip_special) << folder.name << " #" << c.index;
    }
    std::cout << "[detokenizer] " << folder.name << ": " << passed << "/" << total << " streams equal decode()\n";
  }
}

// With a prompt, the deltas continue the prompt's text: decode(prompt + output) minus decode(prompt),
// whenever the prompt's text is a finished prefix of the whole.
TEST(IncrementalDetokenizer, ContinuesAfterAPrompt) {
  SHARDLM_REQUIRE_FIXTURES();
  for (const GoldenFolder& folder : golden_folders()) {
    const Tokenizer& tok = cached_tokenizer(folder.dir);
    int checked = 0;
    for (const GoldenCase& c : read_golden(folder.golden_path)) {
      const auto& ids = c.ids_with_special;
      for (size_t split = 1; split < ids.size(); split += std::max<size_t>(1, ids.size() / 4)) {
        const std::vector<int32_t> prompt(ids.begin(), ids.begin() + split);
        const std::vector<int32_t> output(ids.begin() + split, ids.end());
        const std::string whole = tok.decode(ids, true);
        const std::string head = tok.decode(prompt, true);
        if (whole.compare(0, head.size(), head) != 0 || utf8::ends_with_replacement_char(head)) continue;
        const StreamResult r = stream(tok, prompt, output, true);
        EXPECT_EQ(r.text, whole.substr(head.size())) << folder.name << " #" << c.index << " split " << split;
        EXPECT_EQ(r.bad_deltas, 0);
        ++checked;
      }
    }
    EXPECT_GT(checked, 100) << folder.name;
  }
}

// Byte-fallback tokens of one character arrive one by one: nothing is emitted until it is complete.
TEST(IncrementalDetokenizer, HoldsBackUnfinishedCharacters) {
  SHARDLM_REQUIRE_FIXTURES();
  const Tokenizer& tok = cached_tokenizer(model_dir("stories260K"));
  // "é" is <0xC3><0xA9> in a byte-fallback vocabulary (ids of the <0xXX> tokens are 3 + byte).
  ASSERT_EQ(tok.id_to_token(3 + 0xC3), "<0xC3>");
  IncrementalDetokenizer detok(tok, {1}, true);
  EXPECT_EQ(detok.push(3 + 0xC3), "");
  EXPECT_EQ(detok.push(3 + 0xA9), "\xC3\xA9");
  EXPECT_EQ(detok.text(), "\xC3\xA9");
}

TEST(IncrementalDetokenizer, IgnoresIdsOutsideTheVocabulary) {
  SHARDLM_REQUIRE_FIXTURES();
  const Tokenizer& tok = cached_tokenizer(tokenizer_dir("gpt2"));
  IncrementalDetokenizer detok(tok, {}, true);
  EXPECT_EQ(detok.push(tok.vocab_size() + 10), "");
  EXPECT_EQ(detok.push(-1), "");
  EXPECT_EQ(detok.push(15496), "Hello");  // "Hello" in GPT-2
}

}  // namespace
}  // namespace shardlm::testing
