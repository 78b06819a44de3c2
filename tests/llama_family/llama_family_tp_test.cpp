// Llama-family variants through `shardlm generate` as the acceptance check runs it (token-id prompts, greedy,
// 24 tokens, --ignore-eos, --logprobs 1, --output-jsonl): at TP=1 directly, and at TP=2/3/4 (as the heads
// allow) under shardlm-run, where every rank must write the identical file. Greedy tokens must equal
// transformers' up to the first near-tie, log-probabilities within 2e-3.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/subprocess.h"
#include "llama_family_util.h"

using namespace shardlm;
using namespace shardlm::testing;
namespace fs = std::filesystem;

namespace {

constexpr double kLogprobTol = 2e-3;

struct TpCase {
  std::string variant;
  int tp;
};
void PrintTo(const TpCase& c, std::ostream* os) { *os << c.variant << " TP=" << c.tp; }

std::vector<TpCase> tp_cases() {
  std::vector<TpCase> out;
  for (const auto& v : llama_variants()) {
    out.push_back({v.name, 1});
    for (int tp : v.tp) out.push_back({v.name, tp});
  }
  return out;
}

std::string generate_command(const std::string& name, const std::vector<GoldenPrompt>& golden) {
  std::string cmd = bin_dir() + "/shardlm generate --model " + llama_variant_dir(name) + " --tokenizer " +
                    llama_variant_tokenizer();
  for (const auto& g : golden) {
    cmd += " --prompt-token-ids ";
    for (size_t i = 0; i < g.prompt.size(); ++i) cmd += (i ? "," : "") + std::to_string(g.prompt[i]);
  }
  return cmd + " --temperature 0 --max-tokens 24 --ignore-eos --logprobs 1 --no-progress --num-threads 1";
}

class LlamaFamilyCli : public ::testing::TestWithParam<TpCase> {};

TEST_P(LlamaFamilyCli, GreedyJsonlMatchesTransformersOnEveryRank) {
  SHARDLM_REQUIRE_FIXTURES();  // the tokenizer
  const auto [name, tp] = GetParam();
  std::vector<GoldenPrompt> golden = read_llama_golden(name);
  fs::path dir = fs::temp_directory_path() / ("shardlm-llama-family-" + name + "-tp" + std::to_string(tp) + "-" +
                                              std::to_string(getpid()));
  fs::create_directories(dir);
  std::string cmd = generate_command(name, golden);
  if (tp > 1) {
    cmd = bin_dir() + "/shardlm-run --nproc-per-node=" + std::to_string(tp) + " --master-port=" +
          std::to_string(free_port()) + " " + cmd + " --tensor-parallel-size " + std::to_string(tp);
  }
  CommandResult r = run_command(cmd + " --output-jsonl " + (dir / "out.{rank}.jsonl").string(), 240);
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const std::string rank0 = read_file((dir / "out.0.jsonl").string());
  for (int rank = 1; rank < tp; ++rank)
    EXPECT_EQ(read_file((dir / ("out." + std::to_string(rank) + ".jsonl")).string()), rank0) << "rank " << rank;
  std::istringstream lines(rank0);
  std::string line;
  size_t i = 0;
  for (; std::getline(lines, line) && i < golden.size(); ++i) {
    SCOPED_TRACE(name + " TP=" + std::to_string(tp) + " prompt " + std::to_string(i));
    nlohmann::json o = nlohmann::json::parse(line);
    EXPECT_EQ(o["prompt_token_ids"].get<std::vector<int32_t>>(), golden[i].prompt);
    const auto& c = o["outputs"][0];
    EXPECT_EQ(c["finish_reason"], "length");
    std::vector<int32_t> tokens = c["token_ids"].get<std::vector<int32_t>>();
    ASSERT_EQ(c["logprobs"].size(), tokens.size());
    expect_greedy_matches(
        golden[i], tokens, [&](size_t t) { return c["logprobs"][t].at(std::to_string(tokens[t])).get<double>(); },
        kLogprobTol);
  }
  EXPECT_EQ(i, golden.size()) << "one JSON line per prompt expected:\n" << rank0;
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Variants, LlamaFamilyCli, ::testing::ValuesIn(tp_cases()), [](const auto& info) {
  return param_name(info.param.variant) + "_tp" + std::to_string(info.param.tp);
});

}  // namespace
