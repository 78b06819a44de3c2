// Self-launched ranks: rank 0's side (start the workers, send them commands) and the worker's loop. See
// self_launch.h.
#include "api/self_launch.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "core/env_vars.h"
#include "core/error.h"
#include "distributed/launcher.h"
#include "distributed/tcp_store.h"
#include "engine/sampling_params_json.h"
#include "server/engine_loop.h"

namespace shardlm {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kWorkerEnv = "SHARDLM_SELF_LAUNCH";

// Where `shardlm` (whose `_worker` command runs a rank) lies: $SHARDLM_WORKER_BINARY, else beside the library
// that holds this code (lib/../bin/shardlm in a build or install tree, bin/shardlm below it in the wheel, or the
// same folder), else beside the running program.
std::string worker_binary() {
  if (auto v = env_value("SHARDLM_WORKER_BINARY")) return *v;
  std::vector<fs::path> candidates;
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&worker_binary), &info) && info.dli_fname) {
    const fs::path here = fs::absolute(info.dli_fname).parent_path();
    candidates.push_back(here.parent_path() / "bin" / "shardlm");  // a build or install tree: lib/ and bin/
    candidates.push_back(here / "bin" / "shardlm");                // the wheel: shardlm/libshardlm.so, shardlm/bin/
    candidates.push_back(here / "shardlm");
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path() / "shardlm");
  std::string tried;
  for (const fs::path& c : candidates) {
    if (::access(c.c_str(), X_OK) == 0) return c.string();
    tried += (tried.empty() ? "" : ", ") + c.string();
  }
  fail("tensor_parallel_size > 1 without a launcher starts the other ranks as `shardlm _worker`, but no shardlm "
       "program was found (tried ", tried, "); set SHARDLM_WORKER_BINARY to its path, or start the ranks with a "
       "launcher (shardlm-run --nproc-per-node=N, torchrun)");
}

void write_frame(int fd, const std::string& payload) {
  const uint32_t n = (uint32_t)payload.size();
  std::string frame(reinterpret_cast<const char*>(&n), sizeof n);
  frame += payload;
  size_t done = 0;
  while (done < frame.size()) {
    const ssize_t w = ::send(fd, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw std::system_error(errno, std::generic_category());
    done += (size_t)w;
  }
}

// The next frame; nullopt at end-of-file (rank 0 is gone).
std::optional<std::string> read_frame(int fd) {
  auto read_all = [&](char* p, size_t n) {
    size_t done = 0;
    while (done < n) {
      const ssize_t r = ::read(fd, p + done, n - done);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      done += (size_t)r;
    }
    return true;
  };
  uint32_t n = 0;
  if (!read_all(reinterpret_cast<char*>(&n), sizeof n)) return std::nullopt;
  std::string payload(n, '\0');
  if (!read_all(payload.data(), n)) return std::nullopt;
  return payload;
}

std::string exit_description(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
                                  strsignal(WTERMSIG(status)) + ")";
  return "ended";
}

}  // namespace

bool SelfLaunch::wanted(const EngineArgs& args, const LaunchEnv& env) {
  const std::string& backend = args.distributed_executor_backend;
  const bool launched = env.world_size > 1 || env.launcher != "none";
  if (backend == "mp" && launched)
    throw std::invalid_argument("distributed_executor_backend='mp' starts its own ranks, but this process was started "
                                "by a launcher (" + describe(env) + "); use 'external_launcher' (or leave it unset)");
  if (launched || args.tensor_parallel_size <= 1 || (backend != "" && backend != "mp")) return false;
  if (args.data_parallel_size > 1)
    throw std::invalid_argument("data_parallel_size > 1 needs a launcher: each replica runs its own prompts; start "
                                "data_parallel_size x tensor_parallel_size processes (shardlm-run --nproc-per-node=" +
                                std::to_string(args.data_parallel_size * args.tensor_parallel_size) + ", torchrun)");
  return true;
}

std::unique_ptr<SelfLaunch> SelfLaunch::start_workers(const EngineArgs& args) {
  std::unique_ptr<SelfLaunch> s(new SelfLaunch());
  const int world = args.tensor_parallel_size;
  const std::string binary = worker_binary();
  s->store_ = std::make_unique<TcpStoreServer>(0, "127.0.0.1", store_secret_from_env());
  LaunchEnv& e = s->env_;
  e.rank = 0;
  e.world_size = e.local_world_size = world;
  e.master_addr = "127.0.0.1";
  e.master_port = s->store_->port();
  e.launcher = "self-launched";
  e.agent_store = true;  // the store above, not one the engine hosts
  e.run_id = "self-" + std::to_string(::getpid()) + "-" + std::to_string(e.master_port);

  EngineArgs worker_args = args;
  worker_args.distributed_executor_backend = "external_launcher";
  const std::map<std::string, std::string> base = current_environment();
  for (int rank = 1; rank < world; ++rank) {
    int fds[2];
    // Rank 0's end is close-on-exec; the worker's end must survive its exec, so it is made inheritable just for
    // the spawn and closed here right after.
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
      fail("self-launched ranks: socketpair failed: ", std::strerror(errno));
    ::fcntl(fds[1], F_SETFD, 0);
    std::map<std::string, std::string> env = base;
    env["RANK"] = std::to_string(rank);
    env["LOCAL_RANK"] = std::to_string(rank);  // the GPU this rank uses
    env["WORLD_SIZE"] = env["LOCAL_WORLD_SIZE"] = std::to_string(world);
    env["MASTER_ADDR"] = e.master_addr;
    env["MASTER_PORT"] = std::to_string(e.master_port);
    if (!env.count("OMP_NUM_THREADS")) env["OMP_NUM_THREADS"] = "1";
    env[kWorkerEnv] = json{{"args", engine_args_to_json(worker_args)}, {"rank", rank}, {"world_size", world},
                           {"port", e.master_port}, {"run_id", e.run_id}, {"fd", fds[1]}}
                          .dump();
    pid_t pid = -1;
    try {
      pid = spawn_worker({binary, "_worker"}, env, "self-launched rank " + std::to_string(rank));
    } catch (...) {
      ::close(fds[0]);
      ::close(fds[1]);
      throw;  // ~SelfLaunch ends the workers already started
    }
    ::close(fds[1]);
    s->workers_.push_back({pid, fds[0]});
  }
  return s;
}

void SelfLaunch::worker_lost(size_t i) {
  const Worker& w = workers_[i];
  int status = 0;
  // The socket broke: the process has ended or is ending; give it a moment to be reaped.
  for (int tries = 0; tries < 50; ++tries) {
    if (::waitpid(w.pid, &status, WNOHANG) == w.pid)
      fail("self-launched rank ", i + 1, " (pid ", w.pid, ") ", exit_description(status),
           "; this LLM cannot go on (create a new one)");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  fail("self-launched rank ", i + 1, " (pid ", w.pid, ") stopped listening; this LLM cannot go on (create a new one)");
}

void SelfLaunch::send(const std::string& command) {
  if (stopped_) fail("this LLM's self-launched ranks were stopped");
  for (size_t i = 0; i < workers_.size(); ++i) {
    try {
      write_frame(workers_[i].socket, command);
    } catch (const std::system_error&) {
      worker_lost(i);
    }
  }
}

void SelfLaunch::send_flag(bool step) { send(step ? "s" : "a"); }

void SelfLaunch::send_follow() { send(json{{"op", "follow"}}.dump()); }

void SelfLaunch::stop() noexcept {
  if (stopped_) return;
  for (Worker& w : workers_) {
    try {
      write_frame(w.socket, json{{"op", "stop"}}.dump());
    } catch (...) {
    }
  }
  stopped_ = true;
}

SelfLaunch::~SelfLaunch() {
  stop();
  for (Worker& w : workers_) ::close(w.socket);  // end-of-file for a worker that missed "stop"
  // Workers exit once their engine is torn down; a worker stuck in a collective is killed.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (Worker& w : workers_) {
    int status = 0;
    while (::waitpid(w.pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(w.pid, SIGKILL);
        ::waitpid(w.pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
}

int run_self_launched_worker() {
  ::signal(SIGINT, SIG_IGN);  // Ctrl-C reaches the whole process group; rank 0 decides what it aborts
  const std::optional<std::string> spec = env_value(kWorkerEnv);
  if (!spec) {
    std::fprintf(stderr, "shardlm _worker: started by LLM(tensor_parallel_size > 1) itself, not by hand\n");
    return 2;
  }
  const json j = json::parse(*spec);
  const int fd = j.at("fd").get<int>();
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  LaunchEnv env;
  env.rank = env.local_rank = j.at("rank").get<int>();
  env.world_size = env.local_world_size = j.at("world_size").get<int>();
  env.master_port = j.at("port").get<int>();
  env.launcher = "self-launched";
  env.agent_store = true;
  env.run_id = j.at("run_id").get<std::string>();
  LLM llm(engine_args_from_json(j.at("args")), env);
  bool driver_gone = false;
  for (;;) {
    const std::optional<std::string> frame = read_frame(fd);
    if (!frame) return 0;  // rank 0 is gone
    const json cmd = json::parse(*frame);
    const std::string op = cmd.at("op").get<std::string>();
    if (op == "stop") return 0;
    // Each call fails here exactly when it fails on rank 0 (the same inputs, the same engine state), and rank 0
    // reports it; the worker goes on to the next call.
    try {
      if (op == "generate") {
        std::vector<Prompt> prompts;
        std::vector<SamplingParams> params;
        for (const json& p : cmd.at("prompts")) prompts.push_back(prompt_from_json(p));
        for (const json& p : cmd.at("params")) params.push_back(sampling_params_from_json(p));
        GenerateHooks hooks;
        hooks.progress_bar = false;
        hooks.reject_whole_call = cmd.at("reject_whole_call").get<bool>();
        hooks.check_interrupt = [fd, &driver_gone] {
          const std::optional<std::string> flag = read_frame(fd);
          if (!flag) {
            driver_gone = true;
            throw std::runtime_error("rank 0 is gone");
          }
          if (*flag != "s") throw std::runtime_error("aborted by rank 0");
        };
        llm.generate(prompts, params, hooks, cmd.at("priority").get<std::vector<int>>());
      } else if (op == "sleep") {
        llm.sleep(cmd.at("level").get<int>());
      } else if (op == "wake_up") {
        llm.wake_up(cmd.at("tags").get<std::vector<std::string>>());
      } else if (op == "reset_prefix_cache") {
        llm.reset_prefix_cache();
      } else if (op == "reload_weights") {
        llm.reload_weights();
      } else if (op == "follow") {  // a server's follower until its leader broadcasts stop
        Group world = llm.world_group().cpu_group;
        server::EngineLoop::follow(llm.engine(), world);
      } else {
        std::fprintf(stderr, "shardlm _worker: unknown command '%s' from rank 0\n", op.c_str());
        return 2;
      }
    } catch (const std::exception&) {
      if (driver_gone) return 0;
    }
  }
}

}  // namespace shardlm
