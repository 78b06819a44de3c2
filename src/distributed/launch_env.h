// LaunchEnv: what the external launcher (torchrun, shardlm-run, mpirun, srun, or none) told this process
// through its environment: rank, world size, where the rendezvous store lives.
#pragma once
#include <map>
#include <string>

namespace shardlm {

struct LaunchEnv {
  int rank = 0, world_size = 1, local_rank = 0, local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string launcher = "none";  // "torchrun", "shardlm-run", "mpirun", "srun", "none"
  bool agent_store = false;       // TORCHELASTIC_USE_AGENT_STORE=True: a store already listens at master
  std::string run_id;             // TORCHELASTIC_RUN_ID, the MPI job id or the Slurm job.step; "" if none
  int restart_count = 0;          // TORCHELASTIC_RESTART_COUNT: an agent store outlives worker restarts
};

// Pure read of the process environment. Throws shardlm::Error naming the variable on non-numeric or
// inconsistent values (rank >= world size, negative sizes, a port outside 1..65535).
LaunchEnv detect_launch_env();
// Same, over an explicit variable map (testable).
LaunchEnv detect_launch_env(const std::map<std::string, std::string>& env);

// The current process environment as a map.
std::map<std::string, std::string> current_environment();

// "rank 1 of 2 (torchrun, local rank 1 of 2, store 127.0.0.1:29500)": for log and error messages.
std::string describe(const LaunchEnv& env);

}  // namespace shardlm
