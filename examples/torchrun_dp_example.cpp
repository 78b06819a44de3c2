// vLLM's examples/offline_inference/torchrun_dp_example.py, in C++ on shardlm: data-parallel inference under
// an external launcher. The launcher starts data_parallel_size * tensor_parallel_size processes; ranks with
// the same rank / tensor_parallel_size form one replica (an independent engine). Splitting the prompts among
// replicas is the program's job, as in vLLM's external-launcher mode.
//   build/bin/shardlm-run --nproc-per-node=2 build/bin/torchrun_dp_example --model DIR
//   torchrun --nproc-per-node=4 --no-python build/bin/torchrun_dp_example --model DIR --tp-size 2 --dp-size 2
#include <cstdio>
#include <string>

#include "python_repr.h"  // as the original prints {text!r}
#include "shardlm/llm.h"

int main(int argc, char** argv) {
  std::string model = "facebook/opt-125m";
  int tp = 1, dp = 2;
  int64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--model" && i + 1 < argc) model = argv[++i];
    else if (a == "--tp-size" && i + 1 < argc) tp = std::stoi(argv[++i]);
    else if (a == "--dp-size" && i + 1 < argc) dp = std::stoi(argv[++i]);
    else if (a == "--seed" && i + 1 < argc) seed = std::stoll(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--model DIR|HUB_ID] [--tp-size N] [--dp-size N] [--seed S]\n", argv[0]);
      return 2;
    }
  }
  try {
    // Create prompts, the same across all ranks.
    std::vector<std::string> base = {"Hello, my name is", "The president of the United States is",
                                     "The capital of France is", "The future of AI is"};
    std::vector<std::string> prompts;
    for (int k = 0; k < 50; ++k) prompts.insert(prompts.end(), base.begin(), base.end());
    shardlm::SamplingParams sampling_params;
    sampling_params.temperature = 0.8f;
    sampling_params.top_p = 0.95f;

    shardlm::EngineArgs args;
    args.model = model;
    args.tensor_parallel_size = tp;
    args.data_parallel_size = dp;
    args.distributed_executor_backend = "external_launcher";
    // An explicit seed keeps the ranks of a replica sampling alike.
    args.seed = seed;
    shardlm::LLM llm(args);

    const int dp_rank = llm.data_parallel_rank(), dp_size = llm.data_parallel_size();
    std::vector<shardlm::Prompt> mine;
    for (size_t idx = 0; idx < prompts.size(); ++idx)
      if ((int)idx % dp_size == dp_rank) mine.emplace_back(std::to_string(idx) + "." + prompts[idx]);

    auto outputs = llm.generate(mine, sampling_params, false);
    // All ranks of a replica have the same outputs.
    std::printf("--------------------------------------------------\n");
    for (const auto& out : outputs) {
      std::printf("DP rank %d: Prompt: %s\nGenerated text: %s\n\n", dp_rank, python_repr(out.prompt).c_str(),
                  python_repr(out.outputs[0].text).c_str());
      std::printf("--------------------------------------------------\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "torchrun_dp_example: %s\n", e.what());
    return 1;
  }
  return 0;
}
