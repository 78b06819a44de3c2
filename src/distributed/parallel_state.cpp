// init_distributed: launch environment -> rendezvous -> gloo world group -> coordinators.
#include "distributed/parallel_state.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <mutex>

#include "distributed/gloo_group.h"
#include "distributed/rendezvous.h"
#include "distributed/socket.h"
#include "distributed/tcp_store.h"

namespace shardlm {
namespace {

std::mutex& factory_mutex() {
  static std::mutex mu;
  return mu;
}
std::map<Device, DeviceGroupFactory>& factories() {
  static std::map<Device, DeviceGroupFactory> f;
  return f;
}

// gloo writes to sockets without MSG_NOSIGNAL: a peer that died must surface as an error, not kill us
// with SIGPIPE. (Python ignores SIGPIPE at start-up, which is why torch never needs this.)
void ignore_sigpipe() {
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
}

// The address gloo binds its pairs to: an interface from GLOO_SOCKET_IFNAME, loopback when the master is
// local, else the local address that routes to the master.
void choose_gloo_endpoint(const LaunchEnv& env, GlooGroupOptions& opts) {
  if (const char* iface = std::getenv("GLOO_SOCKET_IFNAME"); iface && *iface) {
    opts.iface = iface;
    return;
  }
  if (net::is_loopback_host(env.master_addr)) {
    opts.hostname = env.master_addr == "::1" ? "::1" : "127.0.0.1";
    return;
  }
  opts.hostname = net::local_address_towards(env.master_addr);
  if (opts.hostname.empty()) {
    char host[256] = {0};
    ::gethostname(host, sizeof(host) - 1);
    opts.hostname = host;
  }
}

GroupCoordinator coordinator(std::vector<int> ranks, int rank_in_group, std::shared_ptr<ProcessGroup> cpu,
                             std::shared_ptr<ProcessGroup> device) {
  GroupCoordinator g;
  g.world_size = (int)ranks.size();
  g.ranks = std::move(ranks);
  g.rank_in_group = rank_in_group;
  g.cpu_group = std::move(cpu);
  g.device_group = std::move(device);
  return g;
}

// The factory for a non-CPU device group, looked up before any networking so a missing backend fails fast.
DeviceGroupFactory device_group_factory(Device device) {
  std::lock_guard<std::mutex> lock(factory_mutex());
  auto it = factories().find(device);
  if (it == factories().end() || !it->second)
    fail("no device process group backend is registered for ", device_name(device),
         " (this build has no NCCL support, or the CUDA backend was not initialised)");
  return it->second;
}

}  // namespace

std::chrono::milliseconds effective_timeout(const DistributedOptions& opts,
                                            const std::map<std::string, std::string>& env) {
  auto it = env.find("SHARDLM_DIST_TIMEOUT");
  if (it == env.end()) {
    if (opts.timeout.count() <= 0)
      fail("DistributedOptions.timeout must be positive, got ", opts.timeout.count(), " ms");
    return opts.timeout;
  }
  const std::string& text = it->second;
  char* end = nullptr;
  errno = 0;
  double secs = std::strtod(text.c_str(), &end);
  if (text.empty() || end == text.c_str() || *end != '\0' || errno == ERANGE || !std::isfinite(secs) || secs <= 0)
    fail("environment variable SHARDLM_DIST_TIMEOUT='", text, "' is not a positive number of seconds");
  return std::chrono::milliseconds((long long)std::ceil(secs * 1000.0));
}

void register_device_group_factory(Device d, DeviceGroupFactory f) {
  std::lock_guard<std::mutex> lock(factory_mutex());
  factories()[d] = std::move(f);
}

std::shared_ptr<DistributedState> init_distributed(const DistributedOptions& opts) {
  return init_distributed(opts, detect_launch_env());
}

std::shared_ptr<DistributedState> init_distributed(const DistributedOptions& opts, const LaunchEnv& env) {
  if (opts.tensor_parallel_size < 1)
    fail("tensor_parallel_size must be at least 1, got ", opts.tensor_parallel_size);
  if (env.world_size != opts.tensor_parallel_size)
    fail("tensor_parallel_size=", opts.tensor_parallel_size, " but the launcher (", env.launcher, ") started world_size=",
         env.world_size, " processes; start exactly tensor_parallel_size processes (e.g. shardlm-run "
         "--nproc-per-node=", opts.tensor_parallel_size, " ...) or set tensor_parallel_size=", env.world_size);
  auto state = std::make_shared<DistributedState>();
  state->env = env;
  state->timeout = effective_timeout(opts, current_environment());

  std::vector<int> ranks;
  for (int r = 0; r < env.world_size; r++) ranks.push_back(r);
  if (env.world_size == 1) {
    auto single = std::make_shared<SingleProcessGroup>();
    state->world = coordinator(ranks, 0, single, single);
    state->tp = state->world;
    return state;
  }

  DeviceGroupFactory factory;
  if (opts.device != Device::CPU) factory = device_group_factory(opts.device);
  ignore_sigpipe();
  Rendezvous rv = rendezvous(env, state->timeout);
  state->store = rv.store;
  GlooGroupOptions gopts;
  gopts.name = "world";
  gopts.global_ranks = ranks;
  gopts.group_rank = env.rank;
  gopts.store_prefix = rv.prefix + "world/";
  gopts.timeout = state->timeout;
  choose_gloo_endpoint(env, gopts);
  auto cpu_group = create_gloo_group(rv.store, gopts);
  std::shared_ptr<ProcessGroup> device_group = cpu_group;
  if (factory) {
    device_group = factory(cpu_group, env.local_rank);
    if (!device_group) fail("the ", device_name(opts.device), " device group factory returned no group");
  }
  state->world = coordinator(ranks, env.rank, cpu_group, device_group);
  // TP spans the whole world (world_size == tensor_parallel_size), so it is the same group.
  state->tp = state->world;
  return state;
}

}  // namespace shardlm
