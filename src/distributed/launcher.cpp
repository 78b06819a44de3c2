// shardlm-run's agent loop; see launcher.h.
#include "distributed/launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "core/error.h"
#include "distributed/error_file.h"
#include "distributed/launch_env.h"
#include "distributed/tcp_store.h"

namespace shardlm {
namespace {

volatile sig_atomic_t g_received_signal = 0;
void on_signal(int sig) { g_received_signal = sig; }

constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
constexpr auto kGracePeriod = std::chrono::seconds(5);

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : std::to_string(sig);
}

std::string random_run_id() {
  std::random_device rd;
  std::mt19937_64 gen(((uint64_t)rd() << 32) ^ rd() ^ (uint64_t)::getpid());
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)gen());
  return buf;
}

struct Worker {
  int rank = 0;
  pid_t pid = -1;
  bool running = false;
  std::string error_file;
};

// Sends `sig` to every worker still running.
void signal_all(std::vector<Worker>& workers, int sig) {
  for (auto& w : workers)
    if (w.running) ::kill(w.pid, sig);
}

// One line of the launcher's own to stderr in one write(2): the workers write to the same stream, and a line
// written piece by piece can be split by theirs (seen: "shardlm-run: rank 1[ OK ] ... (pid 23892) failed").
void report(const std::string& line) {
  const std::string s = line + "\n";
  ssize_t ignored = ::write(STDERR_FILENO, s.data(), s.size());
  (void)ignored;
}

}  // namespace

// fork + exec rather than posix_spawn, for PR_SET_PDEATHSIG: the kernel sends the worker SIGTERM when the
// launcher dies, even by SIGKILL, so no worker runs on as an orphan holding a GPU. (The signal follows the
// thread that forked: run_launcher() runs on the launcher's main thread, which lives as long as it does.)
// Between fork and exec the child only prepares signals and execs: the store server has threads, so it must
// not allocate (glibc's execvpe searches the launcher's PATH, as posix_spawnp did, in stack buffers).
pid_t spawn_worker(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                   const std::string& who) {
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (auto& e : env_strings) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  sigset_t none;
  sigemptyset(&none);
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);

  // The child reports a failed exec's errno through a close-on-exec pipe; EOF means the exec happened.
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) fail(who, ": cannot create a pipe: ", strerror(errno));
  const pid_t launcher = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(report[0]);
    // Dies with the launcher; if the launcher is already gone (it died before prctl), getppid() is no longer it.
    if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || ::getppid() != launcher) ::_exit(127);
    for (int s : kForwardedSignals) ::sigaction(s, &default_action, nullptr);
    ::sigaction(SIGPIPE, &default_action, nullptr);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execvpe(cargv[0], cargv.data(), cenv.data());
    const int err = errno;
    ssize_t ignored = ::write(report[1], &err, sizeof err);
    (void)ignored;
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(report[1]);
  if (pid < 0) {
    ::close(report[0]);
    fail(who, ": cannot start '", argv[0], "': fork failed: ", strerror(fork_errno));
  }
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(report[0], &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  ::close(report[0]);
  if (n == (ssize_t)sizeof exec_errno) {
    ::waitpid(pid, nullptr, 0);
    fail(who, ": cannot start '", argv[0], "': ", strerror(exec_errno));
  }
  return pid;
}

std::map<std::string, std::string> worker_environment(const LauncherArgs& args, const WorkerEnvInputs& in,
                                                      const std::map<std::string, std::string>& base_env) {
  auto env = base_env;
  const int world = args.nnodes * args.nproc_per_node;
  const int rank = args.node_rank * args.nproc_per_node + in.local_rank;
  env["RANK"] = std::to_string(rank);
  env["LOCAL_RANK"] = std::to_string(in.local_rank);
  env["WORLD_SIZE"] = std::to_string(world);
  env["LOCAL_WORLD_SIZE"] = std::to_string(args.nproc_per_node);
  env["GROUP_RANK"] = std::to_string(args.node_rank);
  env["GROUP_WORLD_SIZE"] = std::to_string(args.nnodes);
  env["ROLE_RANK"] = std::to_string(rank);
  env["ROLE_WORLD_SIZE"] = std::to_string(world);
  env["ROLE_NAME"] = "default";
  env["MASTER_ADDR"] = args.master_addr;
  env["MASTER_PORT"] = std::to_string(in.master_port);
  env["TORCHELASTIC_USE_AGENT_STORE"] = "True";
  env["TORCHELASTIC_RUN_ID"] = in.run_id;
  env["TORCHELASTIC_RESTART_COUNT"] = "0";
  env["TORCHELASTIC_MAX_RESTARTS"] = "0";
  env["TORCHELASTIC_SIGNALS_TO_HANDLE"] = "SIGTERM,SIGINT,SIGHUP,SIGQUIT";
  env["TORCHELASTIC_ERROR_FILE"] = in.error_file;
  if (!env.count("TORCH_NCCL_ASYNC_ERROR_HANDLING")) env["TORCH_NCCL_ASYNC_ERROR_HANDLING"] = "1";
  if (!env.count("OMP_NUM_THREADS")) env["OMP_NUM_THREADS"] = "1";
  env["SHARDLM_LAUNCHER"] = "shardlm-run";
  return env;
}

int run_launcher(const LauncherArgs& args) {
  // Every node must use the same run id (the store keys start with it): across nodes the default is torchrun's
  // "none", since a random one would differ per node and the ranks would never meet.
  const std::string run_id = !args.run_id.empty() ? args.run_id : args.nnodes > 1 ? "none" : random_run_id();
  std::unique_ptr<TcpStoreServer> server;
  int master_port = args.master_port;
  if (args.node_rank == 0) {
    server = std::make_unique<TcpStoreServer>(args.standalone ? 0 : args.master_port, args.master_addr,
                                              store_secret_from_env());
    master_port = server->port();
  }
  const auto base_env = current_environment();
  if (!base_env.count("OMP_NUM_THREADS") && args.nproc_per_node > 1)
    report("shardlm-run: OMP_NUM_THREADS is not set; setting it to 1 for each worker, as torchrun does");

  char dir_template[] = "/tmp/shardlm-run-XXXXXX";
  if (!::mkdtemp(dir_template)) fail("shardlm-run: cannot create a temporary directory: ", strerror(errno));
  const std::filesystem::path error_dir = dir_template;

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : kForwardedSignals) ::sigaction(s, &sa, nullptr);

  std::vector<Worker> workers(args.nproc_per_node);
  int exit_code = 0;
  bool stopping = false;
  auto kill_deadline = std::chrono::steady_clock::time_point::max();
  auto stop_all = [&](int sig) {
    if (stopping) return;
    stopping = true;
    signal_all(workers, sig);
    kill_deadline = std::chrono::steady_clock::now() + kGracePeriod;
  };

  try {
    for (int local = 0; local < args.nproc_per_node; local++) {
      Worker& w = workers[local];
      w.rank = args.node_rank * args.nproc_per_node + local;
      auto dir = error_dir / "attempt_0" / std::to_string(w.rank);
      std::filesystem::create_directories(dir);
      w.error_file = (dir / "error.json").string();
      WorkerEnvInputs in{local, master_port, run_id, w.error_file};
      w.pid = spawn_worker(args.program, worker_environment(args, in, base_env), "shardlm-run");
      w.running = true;
    }
  } catch (const Error&) {
    stop_all(SIGTERM);
    exit_code = 1;
    for (auto& w : workers)
      if (w.running) ::waitpid(w.pid, nullptr, 0);
    std::filesystem::remove_all(error_dir);
    throw;
  }

  int running = args.nproc_per_node;
  while (running > 0) {
    if (int sig = g_received_signal) {
      g_received_signal = 0;
      if (!stopping) report(str_cat("shardlm-run: received ", signal_name(sig), ", forwarding it to the workers"));
      if (exit_code == 0) exit_code = 128 + sig;
      if (stopping) {
        signal_all(workers, sig);
      } else {
        stop_all(sig);
      }
    }
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (auto& w : workers) {
        if (w.pid != pid || !w.running) continue;
        w.running = false;
        running--;
        const bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        // Once stopping, exits are the ones we asked for; only the first failure is the root cause.
        if (failed && !stopping) {
          if (WIFEXITED(status))
            report(str_cat("shardlm-run: rank ", w.rank, " (pid ", pid, ") failed with exit code ", WEXITSTATUS(status)));
          else
            report(str_cat("shardlm-run: rank ", w.rank, " (pid ", pid, ") failed with signal ", WTERMSIG(status), " (",
                           signal_name(WTERMSIG(status)), ")"));
          std::string message = read_torchelastic_error_file(w.error_file);
          if (!message.empty()) report(str_cat("shardlm-run: rank ", w.rank, " error: ", message));
          if (running > 0) report("shardlm-run: stopping the other workers");
          if (exit_code == 0) exit_code = 1;
          stop_all(SIGTERM);
        }
      }
      continue;
    }
    if (stopping && std::chrono::steady_clock::now() >= kill_deadline) {
      signal_all(workers, SIGKILL);
      kill_deadline = std::chrono::steady_clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::error_code ignored;
  std::filesystem::remove_all(error_dir, ignored);
  return exit_code;
}

}  // namespace shardlm
