// A program built on shardlm from outside its tree (tests/downstream/run.sh): greedy generation through the
// public API, compared with the token ids the `shardlm generate` command line produced for the same prompt.
//   shardlm_downstream MODEL_DIR PROMPT MAX_TOKENS [EXPECTED_IDS]
// Prints "token_ids: a,b,c" and "text: ..."; with EXPECTED_IDS (comma-separated) it exits 1 unless they match.
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "shardlm/llm.h"
#include "shardlm/version.h"

#ifdef SHARDLM_DOWNSTREAM_EXPECTED_VERSION
static_assert(std::string_view(SHARDLM_VERSION) == SHARDLM_DOWNSTREAM_EXPECTED_VERSION,
              "shardlm/version.h disagrees with the version of the CMake package");
#endif

namespace {

std::string join(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: %s MODEL_DIR PROMPT MAX_TOKENS [EXPECTED_IDS]\n", argv[0]);
    return 2;
  }
  // The library it runs with (shardlm::version()) is the one whose headers it was compiled against.
  if (std::string_view(shardlm::version()) != SHARDLM_VERSION) {
    std::fprintf(stderr, "shardlm_downstream: libshardlm.so is version %s, its headers %s\n", shardlm::version(),
                 SHARDLM_VERSION);
    return 1;
  }
  try {
    shardlm::EngineArgs args;
    args.model = argv[1];
    args.device = "cpu";
    shardlm::LLM llm(args);

    shardlm::SamplingParams params;
    params.temperature = 0.0f;  // greedy
    params.max_tokens = std::stoi(argv[3]);
    const std::vector<shardlm::RequestOutput> outputs = llm.generate({argv[2]}, params, /*use_tqdm=*/false);
    if (outputs.size() != 1 || outputs[0].outputs.size() != 1) {
      std::fprintf(stderr, "shardlm_downstream: expected one output with one sequence\n");
      return 1;
    }
    const shardlm::CompletionOutput& out = outputs[0].outputs[0];
    const std::string ids = join(out.token_ids);
    std::printf("shardlm %s\ntoken_ids: %s\ntext: %s\n", SHARDLM_VERSION, ids.c_str(), out.text.c_str());
    if (out.token_ids.empty()) {
      std::fprintf(stderr, "shardlm_downstream: no tokens generated\n");
      return 1;
    }
    if (argc == 5 && ids != argv[4]) {
      std::fprintf(stderr, "shardlm_downstream: token ids %s differ from the expected %s\n", ids.c_str(), argv[4]);
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shardlm_downstream: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
