// vLLM's examples/offline_inference/torchrun_example.py, in C++ on shardlm.
//
// Launch one process per rank with an external launcher; every rank builds the same LLM and gets the same
// outputs:
//   build/bin/shardlm-run --nproc-per-node=2 build/bin/torchrun_example [--model DIR] [--results FILE]
//   torchrun --nproc-per-node=2 --no-python build/bin/torchrun_example
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

#include "python_repr.h"  // prints strings as the original script's {text!r}
#include "shardlm/llm.h"


int main(int argc, char** argv) {
  std::string model = "facebook/opt-125m", results = "torchrun_example_results.txt";
  int tp = 2;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--model" && i + 1 < argc) model = argv[++i];
    else if (a == "--results" && i + 1 < argc) results = argv[++i];
    else if (a == "--tensor-parallel-size" && i + 1 < argc) tp = std::stoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--model DIR|HUB_ID] [--tensor-parallel-size N] [--results FILE]\n", argv[0]);
      return 2;
    }
  }
  try {
    // Create prompts, the same across all ranks.
    std::vector<shardlm::Prompt> prompts = {
        "Hello, my name is",
        "The president of the United States is",
        "The capital of France is",
        "The future of AI is",
    };
    // Create sampling parameters, the same across all ranks.
    shardlm::SamplingParams sampling_params;
    sampling_params.temperature = 0.8f;
    sampling_params.top_p = 0.95f;

    // Use `distributed_executor_backend="external_launcher"` so that this LLM engine/instance only creates
    // one worker; the launcher started one process per rank.
    shardlm::EngineArgs args;
    args.model = model;
    args.tensor_parallel_size = tp;
    args.distributed_executor_backend = "external_launcher";
    args.seed = 0;
    shardlm::LLM llm(args);

    std::vector<shardlm::RequestOutput> outputs = llm.generate(prompts, sampling_params);

    // All ranks will have the same outputs.
    std::cout << std::string(50, '-') << "\n";
    for (const auto& output : outputs) {
      std::cout << "Prompt: " << python_repr(output.prompt) << "\nGenerated text: " << python_repr(output.outputs[0].text) << "\n";
      std::cout << std::string(50, '-') << "\n";
    }
    std::cout.flush();

    // Tip 1: control messages go over the cpu group (Gloo). Rank 0 announces that it will save the results,
    // every rank receives the message, and rank 0 alone writes the file.
    shardlm::DistributedGroup world = llm.world_group();
    std::string message = world.rank == 0 ? "rank 0 saves the results to " + results : "";
    world.cpu_group.broadcast_bytes(message, 0);
    if (world.rank == 0) {
      std::ofstream f(results);
      for (const auto& output : outputs) f << python_repr(output.prompt) << "\t" << python_repr(output.outputs[0].text) << "\n";
    }
    world.cpu_group.barrier();

    // Tip 2: data goes over the device group (Gloo on CPUs, NCCL on GPUs): sum every rank's number.
    std::vector<float> value = {(float)(world.rank + 1)};
    world.device_group.all_reduce_sum(value);

    // Tip 3: each rank has direct access to its shard of the model.
    std::printf("rank %d/%d: control message \"%s\"; device-group sum of (rank+1) = %.0f; "
                "%s shard holds %lld parameters in %zu tensors\n",
                world.rank, world.world_size, message.c_str(), value[0], llm.architecture().c_str(),
                (long long)llm.num_parameters(), llm.parameters().size());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "torchrun_example: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
