// The shardlm-run agent: hosts the rendezvous store (node 0), starts the local workers with torchrun's
// environment, forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT to them, and when one fails stops the others and
// reports which rank failed and how. Each worker gets SIGTERM from the kernel when the launcher dies, even
// by SIGKILL (PR_SET_PDEATHSIG), so no worker outlives it.
#pragma once
#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "distributed/launcher_args.h"

namespace shardlm {

// What each worker's environment gets on top of the launcher's own (torchrun's variable set).
struct WorkerEnvInputs {
  int local_rank = 0;
  int master_port = 0;        // the port actually hosted (differs from args with --standalone)
  std::string run_id;
  std::string error_file;     // TORCHELASTIC_ERROR_FILE for this worker
};
std::map<std::string, std::string> worker_environment(const LauncherArgs& args, const WorkerEnvInputs& in,
                                                      const std::map<std::string, std::string>& base_env);

// Starts argv[0] (searched on PATH) with exactly `env`, as a worker that gets SIGTERM when the calling thread
// dies (PR_SET_PDEATHSIG) and the default disposition of the signals a launcher forwards. Throws Error
// "<who>: cannot start '<argv[0]>': <reason>" when it cannot be executed.
pid_t spawn_worker(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                   const std::string& who);

// Runs the job to completion. Returns the launcher's exit code: 0 when every worker exited 0, 1 when a
// worker failed (after stopping the rest), 128+signal when the launcher itself was interrupted.
// Throws shardlm::Error when the store cannot be hosted or a worker cannot be started.
int run_launcher(const LauncherArgs& args);

}  // namespace shardlm
