// `shardlm bench throughput|latency` (written with the engine-core work).
#include "commands.h"

namespace shardlm::cli {

std::function<int()> add_bench_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("bench", "benchmarks: throughput, latency");
  sub->require_subcommand(1);
  return [] { return 0; };
}

}  // namespace shardlm::cli
