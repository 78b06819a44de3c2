// Conformance with Hugging Face tokenizers: every corpus string of every fixture tokenizer encodes to
// the golden ids (with and without special tokens) and the golden ids decode to the golden text.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>

#include "golden_util.h"

namespace shardlm::testing {
namespace {

std::string ids_str(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

class GoldenTest : public ::testing::TestWithParam<GoldenFolder> {};

TEST_P(GoldenTest, EncodeAndDecodeMatchTokenizers) {
  SHARDLM_REQUIRE_FIXTURES();
  const GoldenFolder& folder = GetParam();
  const Tokenizer& tok = cached_tokenizer(folder.dir);
  const std::vector<GoldenCase> cases = read_golden(folder.golden_path);
  ASSERT_EQ(cases.size(), 125u) << folder.golden_path;

  // Timing first, while the BPE cache is cold (each folder is encoded here first), then warm.
  double seconds[2] = {0, 0};
  for (double& s : seconds) {
    const auto start = std::chrono::steady_clock::now();
    for (const GoldenCase& c : cases) tok.encode(c.text, true);
    s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  std::cout << "[timing] " << folder.name << ": corpus encode " << seconds[0] * 1e3 << " ms cold, "
            << seconds[1] * 1e3 << " ms warm\n";
  EXPECT_LT(seconds[0], 0.5) << "encoding 125 strings should take milliseconds";

  int pass_with = 0, pass_no = 0, pass_decoded = 0, pass_skip = 0, pass_all = 0;
  for (const GoldenCase& c : cases) {
    const auto with = tok.encode(c.text, true);
    const auto without = tok.encode(c.text, false);
    const std::string decoded = tok.decode(c.ids_no_special, false);
    const std::string skip = tok.decode(c.ids_with_special, true);
    pass_with += with == c.ids_with_special;
    pass_no += without == c.ids_no_special;
    pass_decoded += decoded == c.decoded;
    pass_skip += skip == c.decoded_skip_special;
    pass_all += with == c.ids_with_special && without == c.ids_no_special && decoded == c.decoded &&
                skip == c.decoded_skip_special;
    EXPECT_EQ(ids_str(with), ids_str(c.ids_with_special)) << folder.name << " #" << c.index << " " << c.raw["text"];
    EXPECT_EQ(ids_str(without), ids_str(c.ids_no_special)) << folder.name << " #" << c.index << " " << c.raw["text"];
    EXPECT_EQ(decoded, c.decoded) << folder.name << " #" << c.index << " " << c.raw["text"];
    EXPECT_EQ(skip, c.decoded_skip_special) << folder.name << " #" << c.index << " " << c.raw["text"];
  }
  std::cout << "[golden] " << folder.name << ": " << pass_all << "/" << cases.size()
            << " fully pass (encode+special " << pass_with << ", encode " << pass_no << ", decode " << pass_decoded
            << ", decode skip-special " << pass_skip << ")\n";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenTest, ::testing::ValuesIn(golden_folders()),
                         [](const ::testing::TestParamInfo<GoldenFolder>& info) {
                           std::string name = info.param.name;
                           for (char& ch : name)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return name;
                         });

}  // namespace
}  // namespace shardlm::testing
