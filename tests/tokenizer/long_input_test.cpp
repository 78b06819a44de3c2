// Long prompts stay fast (no quadratic behaviour: Llama 2 has no pre-tokenizer, so a whole prompt is
// one BPE piece) and round-trip: decode(encode(text)) == text for tokenizers that keep every byte.
#include <gtest/gtest.h>

#include <chrono>

#include "golden_util.h"

namespace shardlm::testing {
namespace {

std::string long_text() {
  // The corpus's long paragraph plus mixed scripts, repeated to ~200 KB, with no added-token text.
  std::string unit;
  for (const GoldenCase& c : read_golden(tokenizer_dir("gpt2") + "/golden.jsonl"))
    if (c.text.find('<') == std::string::npos && c.text.find('[') == std::string::npos) unit += c.text + "\n";
  std::string text;
  while (text.size() < 200000) text += unit;
  return text;
}

TEST(LongInput, EncodesQuicklyAndRoundTrips) {
  SHARDLM_REQUIRE_FIXTURES();
  const std::string text = long_text();
  // Byte-level tokenizers reproduce any text; the SentencePiece-style ones here are checked for speed
  // only (their decoders strip the leading space).
  for (const char* name : {"gpt2", "llama3", "qwen3", "llama2", "mistral-v03"}) {
    const Tokenizer& tok = cached_tokenizer(tokenizer_dir(name));
    const auto start = std::chrono::steady_clock::now();
    const auto ids = tok.encode(text, false);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "[long] " << name << ": " << text.size() << " bytes -> " << ids.size() << " tokens in "
              << seconds * 1e3 << " ms\n";
    EXPECT_LT(seconds, 5.0) << name;
    const std::string decoded = tok.decode(ids, false);
    if (std::string(name) == "gpt2" || std::string(name) == "llama3") {
      EXPECT_EQ(decoded, text) << name;
    } else {
      EXPECT_GT(decoded.size(), text.size() / 2) << name;
    }
  }
}

}  // namespace
}  // namespace shardlm::testing
