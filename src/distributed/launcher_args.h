// Command line of shardlm-run, the launcher: torchrun's flags for a single agent, then the program.
//   shardlm-run [--nproc-per-node N] [--nnodes N] [--node-rank R] [--master-addr A] [--master-port P]
//               [--standalone] [--no-python] [--rdzv-id ID] PROGRAM [ARGS...]
#pragma once
#include <string>
#include <vector>

namespace shardlm {

struct LauncherArgs {
  int nproc_per_node = 1;
  int nnodes = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool standalone = false;            // one node; host the store on a free localhost port
  std::string run_id;                 // --rdzv-id / --run-id; generated when empty
  std::vector<std::string> program;   // the program and its arguments, untouched
  bool help = false;                  // -h / --help: print launcher_usage() and exit 0
};

// Parses argv[1..] (the launcher's own name excluded). Options accept "--name value" and "--name=value",
// with '-' or '_' inside names (--nproc-per-node, --nproc_per_node). The first argument that is not an
// option (or everything after "--") starts the program. Throws shardlm::Error on unknown options, missing
// or malformed values, or a missing program.
LauncherArgs parse_launcher_args(const std::vector<std::string>& args);

std::string launcher_usage();

}  // namespace shardlm
