// Self-launched tensor parallelism (vLLM's "mp" executor): LLM(args) with tensor_parallel_size N > 1 in a
// process that no launcher started becomes rank 0 of N and starts ranks 1..N-1 itself, as `shardlm _worker`
// child processes on this host. The ranks are ordinary engine ranks (same groups, same deterministic
// schedule); what a launcher would give each of them — the same calls with the same arguments — rank 0
// sends them instead, over a Unix socket to each worker (not a collective: a worker waits for the next call as
// long as the caller takes between calls, with no timeout, and sees end-of-file when rank 0 is gone):
//
//   rank 0 (the caller's LLM)                 ranks 1..N-1 (run_worker)
//   generate(prompts, params) ---command-->   generate(prompts, params)
//     before each engine step   ---'s'--->      step   (or 'a': abort the call, as Ctrl-C did on rank 0)
//   sleep / wake_up / reset_prefix_cache / reload_weights ---command--> the same
//   `shardlm serve`: follow       ---command--> EngineLoop::follow: the server's leader/follower protocol over
//                                               the world's CPU group until the leader says stop
//   ~LLM                          ---stop-->    exit 0
//
// A worker that dies is reported by the next call (its exit status, or the collective's error naming the
// rank within the distributed timeout); workers die with rank 0 (PR_SET_PDEATHSIG) and ignore SIGINT, which
// a terminal sends to the whole process group: rank 0 alone decides what Ctrl-C aborts.
#pragma once
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "distributed/launch_env.h"
#include "shardlm/llm.h"

namespace shardlm {

class TcpStoreServer;

class SelfLaunch {
 public:
  // Whether LLM(args) in this process should start its own ranks: N > 1, data_parallel_size 1, no launcher
  // in the environment, and distributed_executor_backend "" or "mp". Throws std::invalid_argument for "mp"
  // under a launcher and for data_parallel_size > 1 without one (those ranks need their own prompts).
  static bool wanted(const EngineArgs& args, const LaunchEnv& env);

  // Rank 0: hosts the rendezvous store and starts the workers. The engine is then built with launch_env().
  static std::unique_ptr<SelfLaunch> start_workers(const EngineArgs& args);
  ~SelfLaunch();  // rank 0: waits briefly for the workers after stop(), then kills what is left

  const LaunchEnv& launch_env() const { return env_; }
  bool is_driver() const { return env_.rank == 0; }

  // Rank 0: sends one command (JSON text) to every worker; an Error naming the rank and how it ended when a
  // worker has exited.
  void send(const std::string& command);
  // Rank 0, inside generate: the before-step flag ('s' step, 'a' abort the call).
  void send_flag(bool step);
  // Rank 0 (the server's leader): the workers run EngineLoop::follow until the leader's loop broadcasts stop.
  void send_follow();
  // Rank 0: tells the workers to exit (once; errors are swallowed, the workers die with rank 0 anyway).
  void stop() noexcept;

 private:
  SelfLaunch() = default;
  [[noreturn]] void worker_lost(size_t i);
  LaunchEnv env_;
  std::unique_ptr<TcpStoreServer> store_;
  struct Worker {
    pid_t pid = -1;
    int socket = -1;  // rank 0's end of the command socket
  };
  std::vector<Worker> workers_;  // rank i + 1
  bool stopped_ = false;
};

// `shardlm _worker`: a self-launched rank. Reads its arguments from the environment rank 0 gave it, builds the
// engine, and runs rank 0's commands until told to stop. Returns the process exit code.
int run_self_launched_worker();

}  // namespace shardlm
