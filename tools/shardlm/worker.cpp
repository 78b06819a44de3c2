// `shardlm _worker` (hidden): a rank that LLM(tensor_parallel_size > 1) started itself without a launcher
// (api/self_launch.h). Not for running by hand.
#include "api/self_launch.h"
#include "commands.h"

namespace shardlm::cli {

std::function<int()> add_worker_command(CLI::App& app) {
  app.add_subcommand("_worker", "")->group("");  // an empty group hides it from --help
  return [] { return run_self_launched_worker(); };
}

}  // namespace shardlm::cli
