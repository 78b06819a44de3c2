// Helpers for the distributed tests: free ports, and running child processes (this test binary as a
// worker, shardlm-run, mpirun) with extra environment, captured output and a hard time limit.
#pragma once
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/fixtures.h"

extern char** environ;

namespace shardlm::testing {

// A port that was free a moment ago (bind to 0, read it, close).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, (sockaddr*)&a, sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, (sockaddr*)&a, &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

inline std::string self_exe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, (size_t)n) : std::string();
}

inline std::string launcher_exe() { return bin_dir() + "/shardlm-run"; }

// Variables a launcher would set; removed from children so an outer launcher cannot leak in.
inline const std::vector<std::string>& launcher_variables() {
  static const std::vector<std::string> v = {
      "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
      "TORCHELASTIC_RUN_ID", "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_ERROR_FILE",
      "TORCHELASTIC_RESTART_COUNT", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "SLURM_PROCID",
      "SLURM_STEP_NUM_TASKS", "SLURM_STEP_ID", "SHARDLM_LAUNCHER", "SHARDLM_DIST_TIMEOUT", "SHARDLM_CPU_COLLECTIVES",
      "SHARDLM_DIST_WORKER", "SHARDLM_TEST_FAULT", "SHARDLM_TEST_VICTIM"};
  return v;
}

struct Child {
  pid_t pid = -1;
  std::string output_path;
  std::shared_ptr<void> output_file_owner;  // unlinks the output file when the last copy goes
  int status = 0;
  bool finished = false;
  double elapsed_s = 0;
  std::string output() const {
    std::ifstream f(output_path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  bool exited_with(int code) const { return finished && WIFEXITED(status) && WEXITSTATUS(status) == code; }
  bool killed_by(int sig) const { return finished && WIFSIGNALED(status) && WTERMSIG(status) == sig; }
};

// Starts argv with the current environment minus launcher variables, plus `extra`; stdout and stderr
// go to one temporary file.
inline Child start_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env;
  for (char** p = environ; *p; p++) {
    std::string kv = *p;
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& v : launcher_variables()) env.erase(v);
  for (const auto& [k, v] : extra) env[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (auto& e : env_strings) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  Child c;
  char path[] = "/tmp/shardlm-dist-test-XXXXXX";
  int fd = ::mkstemp(path);
  c.output_path = path;
  c.output_file_owner = std::shared_ptr<void>(nullptr, [p = c.output_path](void*) { ::unlink(p.c_str()); });
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fd, 1);
  posix_spawn_file_actions_adddup2(&fa, fd, 2);
  posix_spawn_file_actions_addclose(&fa, fd);
  int rv = ::posix_spawnp(&c.pid, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(fd);
  if (rv != 0) c.pid = -1;
  return c;
}

// Waits for every child up to `limit`; any still running then is SIGKILLed (and stays !finished).
inline void wait_all(std::vector<Child*> children, std::chrono::seconds limit) {
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    bool all = true;
    for (Child* c : children) {
      if (c->finished || c->pid < 0) continue;
      int status = 0;
      pid_t r = ::waitpid(c->pid, &status, WNOHANG);
      if (r == c->pid) {
        c->finished = true;
        c->status = status;
        c->elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      } else {
        all = false;
      }
    }
    if (all) return;
    if (std::chrono::steady_clock::now() - start > limit) {
      for (Child* c : children)
        if (!c->finished && c->pid > 0) {
          ::kill(c->pid, SIGKILL);
          ::waitpid(c->pid, &c->status, 0);
        }
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

inline Child run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra,
                         std::chrono::seconds limit) {
  Child c = start_process(argv, extra);
  wait_all({&c}, limit);
  return c;
}

inline int count_occurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) n++;
  return n;
}

// The environment of a worker process: SHARDLM_DIST_WORKER=1 plus `extra`.
inline std::map<std::string, std::string> worker_env(std::map<std::string, std::string> extra = {}) {
  extra["SHARDLM_DIST_WORKER"] = "1";
  return extra;
}

// How a child ended, and its output, for assertion messages.
inline std::string describe(const Child& c) {
  std::string how = !c.finished ? "did not finish"
                    : WIFEXITED(c.status) ? "exit code " + std::to_string(WEXITSTATUS(c.status))
                                          : "signal " + std::to_string(WTERMSIG(c.status));
  return how + "\n--- output ---\n" + c.output();
}

// This test binary's worker cases matching `filter`, as `nproc` ranks under `shardlm-run --standalone`.
inline Child run_under_shardlm_run(int nproc, const std::string& filter, std::map<std::string, std::string> env,
                                   std::chrono::seconds limit) {
  return run_process({launcher_exe(), "--standalone", "--nproc-per-node=" + std::to_string(nproc), "--no-python",
                      self_exe(), "--gtest_filter=" + filter},
                     worker_env(env), limit);
}

// Starts `world` copies of this binary with RANK/WORLD_SIZE set by hand (no launcher, so nobody kills
// the survivors when the victim dies).
inline std::vector<Child> start_bare_ranks(int world, const std::string& filter, std::map<std::string, std::string> env) {
  const std::string port = std::to_string(free_port());
  std::vector<Child> ranks;
  for (int r = 0; r < world; r++) {
    auto e = worker_env(env);
    e["RANK"] = std::to_string(r);
    e["WORLD_SIZE"] = std::to_string(world);
    e["MASTER_ADDR"] = "127.0.0.1";
    e["MASTER_PORT"] = port;
    ranks.push_back(start_process({self_exe(), "--gtest_filter=" + filter}, e));
  }
  return ranks;
}

inline bool worker_mode() {
  const char* v = std::getenv("SHARDLM_DIST_WORKER");
  return v && std::string(v) == "1";
}

}  // namespace shardlm::testing

// Worker test cases run only inside processes started by the driver tests.
#define SHARDLM_REQUIRE_WORKER()                                                            \
  do {                                                                                      \
    if (!::shardlm::testing::worker_mode())                                                 \
      GTEST_SKIP() << "runs only as a worker process started by a MultiProcess* test";      \
  } while (0)
