// init_distributed: launch environment -> rendezvous -> gloo world, TP and DP groups -> coordinators.
#include "distributed/parallel_state.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "core/env_vars.h"
#include "distributed/gloo_group.h"
#include "distributed/host_identity.h"
#include "distributed/rendezvous.h"
#include "distributed/shm_group.h"
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
  if (const std::optional<std::string> iface = env_value("GLOO_SOCKET_IFNAME")) {
    opts.iface = *iface;
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
  require_registered_env_var("SHARDLM_DIST_TIMEOUT");
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

int resolve_data_parallel_size(const DistributedOptions& opts, const LaunchEnv& env, bool* inferred) {
  const int tp = opts.tensor_parallel_size, world = env.world_size;
  if (tp < 1) fail("tensor_parallel_size must be at least 1, got ", tp);
  if (opts.data_parallel_size < 1) fail("data_parallel_size must be at least 1, got ", opts.data_parallel_size);
  if (inferred) *inferred = false;
  int dp = opts.data_parallel_size;
  // vLLM's external DP: data_parallel_size not given, the launcher started several replicas' worth of ranks.
  if (dp == 1 && world > tp && world % tp == 0) {
    dp = world / tp;
    if (inferred) *inferred = true;
  }
  if ((int64_t)dp * tp == world) return dp;
  const std::string started = world == 1 && env.launcher == "none"
                                  ? std::string("this process was not started by a launcher (world_size=1)")
                                  : str_cat("the launcher (", env.launcher, ") started world_size=", world, " processes");
  if (opts.data_parallel_size == 1 && world > 1)
    fail(started, ", which is not a multiple of tensor_parallel_size=", tp, " (with data_parallel_size=1, i.e. not ",
         "given, there are world_size / tensor_parallel_size replicas: world_size must be data_parallel_size x "
         "tensor_parallel_size); start a multiple of ", tp, " processes (e.g. shardlm-run --nproc-per-node=", tp,
         " ...) or set tensor_parallel_size to a divisor of ", world);
  const int64_t want = (int64_t)dp * tp;
  fail("data_parallel_size=", dp, " x tensor_parallel_size=", tp, " needs world_size=", want, " processes, but ",
       started, "; start data_parallel_size x tensor_parallel_size = ", want,
       " processes (e.g. shardlm-run --nproc-per-node=", want,
       " ...), or set data_parallel_size and tensor_parallel_size so that their product is ", world);
}

namespace {

// What building one group needs besides its ranks.
struct GroupBuilder {
  const LaunchEnv& env;
  std::shared_ptr<TcpStore> store;
  std::string prefix;  // this initialisation's store prefix
  std::chrono::milliseconds timeout;
  DeviceGroupFactory factory;  // empty on CPU: the device group is the cpu group
  Device device;

  // `name` names the group in messages and keys its store prefix. A group of one process is a
  // SingleProcessGroup (no networking).
  GroupCoordinator build(const std::string& name, std::vector<int> ranks) const {
    const int group_rank = (int)(std::find(ranks.begin(), ranks.end(), env.rank) - ranks.begin());
    SHARDLM_CHECK(group_rank < (int)ranks.size());
    if (ranks.size() == 1) {
      auto single = std::make_shared<SingleProcessGroup>();
      return coordinator(std::move(ranks), 0, single, single);
    }
    GlooGroupOptions gopts;
    gopts.name = name;
    gopts.global_ranks = ranks;
    gopts.group_rank = group_rank;
    gopts.store_prefix = prefix + name + "/";
    gopts.timeout = timeout;
    choose_gloo_endpoint(env, gopts);
    auto cpu_group = create_gloo_group(store, gopts);
    std::shared_ptr<ProcessGroup> device_group = cpu_group;
    if (factory) {
      device_group = factory(cpu_group, env.local_rank);
      if (!device_group) fail("the ", device_name(device), " device group factory returned no group");
    } else {
      device_group = cpu_tensor_group(cpu_group, gopts);
    }
    return coordinator(std::move(ranks), group_rank, cpu_group, device_group);
  }

  // The CPU device group: shared memory when every rank of the group is on this host (unless
  // SHARDLM_CPU_COLLECTIVES says otherwise), else the Gloo group itself. Collective: all ranks decide alike.
  std::shared_ptr<ProcessGroup> cpu_tensor_group(const std::shared_ptr<ProcessGroup>& gloo,
                                                 const GlooGroupOptions& g) const {
    const CpuCollectivesChoice choice = choose_cpu_collectives(*store, g.store_prefix, g.global_ranks, g.group_rank, timeout);
    if (choice.transport == CpuCollectives::Gloo) {
      if (!choice.forced && g.group_rank == 0)
        std::fprintf(stderr, "shardlm: the %s group's tensor collectives go through Gloo (%s)\n", g.name.c_str(),
                     choice.why.c_str());
      return gloo;
    }
    ShmGroupOptions so;
    static_cast<GroupOptions&>(so) = g;
    std::string why_not;
    if (auto shm = create_shm_group(store, so, &why_not)) return shm;
    if (choice.forced) fail("SHARDLM_CPU_COLLECTIVES=shm, but ", why_not);
    if (g.group_rank == 0)
      std::fprintf(stderr, "shardlm: the %s group uses Gloo for its tensors: %s\n", g.name.c_str(), why_not.c_str());
    return gloo;
  }
};

}  // namespace

std::shared_ptr<DistributedState> init_distributed(const DistributedOptions& opts, const LaunchEnv& env) {
  bool inferred = false;
  const int tp = opts.tensor_parallel_size;
  const int dp = resolve_data_parallel_size(opts, env, &inferred);
  auto state = std::make_shared<DistributedState>();
  state->env = env;
  state->timeout = effective_timeout(opts, current_environment());

  std::vector<int> ranks;
  for (int r = 0; r < env.world_size; r++) ranks.push_back(r);
  if (env.world_size == 1) {
    auto single = std::make_shared<SingleProcessGroup>();
    state->world = coordinator(ranks, 0, single, single);
    state->tp = state->world;
    state->dp = state->world;
    return state;
  }
  if (inferred && env.rank == 0)
    std::fprintf(stderr,
                 "shardlm: data_parallel_size not given: the launcher started world_size=%d processes with "
                 "tensor_parallel_size=%d, so running %d data-parallel replicas (vLLM's external DP)\n",
                 env.world_size, tp, dp);

  DeviceGroupFactory factory;
  if (opts.device != Device::CPU) factory = device_group_factory(opts.device);
  ignore_sigpipe();
  Rendezvous rv = rendezvous(env, state->timeout);
  state->store = rv.store;
  const GroupBuilder builder{env, rv.store, rv.prefix, state->timeout, factory, opts.device};
  // Every rank builds world, then TP, then DP: each creation is collective over its group only, and this
  // order keeps any two ranks from waiting on each other in different groups.
  state->world = builder.build("world", ranks);
  const int dp_rank = env.rank / tp, tp_rank = env.rank % tp;
  if (dp == 1) {
    state->tp = state->world;  // the replica is the whole world
  } else {
    std::vector<int> tp_ranks;
    for (int r = dp_rank * tp; r < (dp_rank + 1) * tp; r++) tp_ranks.push_back(r);
    state->tp = builder.build(str_cat("tp", dp_rank), tp_ranks);
  }
  if (tp == 1) {
    state->dp = state->world;  // every rank is its own replica
  } else {
    std::vector<int> dp_ranks;
    for (int r = tp_rank; r < env.world_size; r += tp) dp_ranks.push_back(r);
    state->dp = builder.build(str_cat("dp", tp_rank), dp_ranks);
  }
  return state;
}

}  // namespace shardlm
