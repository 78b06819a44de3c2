// Rendezvous: see rendezvous.h. Key layout under the prefix:
//   join/<rank>   "<hostname>:<pid>" once the rank reached init_distributed
//   world/...     the world group's keys (gloo/ addresses, host/ identities, shm/ segment set-up, fault/ records)
//   tp<k>/...     replica k's tensor-parallel group, when there are several replicas
//   dp<k>/...     the data-parallel group of shard k (ranks with rank % tp == k), when tp > 1 and dp > 1
#include "distributed/rendezvous.h"

#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <sstream>

namespace shardlm {
namespace {

std::string seconds(std::chrono::milliseconds ms) {
  std::ostringstream os;
  os << ms.count() / 1000.0 << " s";
  return os.str();
}

std::string where(const LaunchEnv& env) {
  return str_cat("world size ", env.world_size, ", launcher ", env.launcher, ", store ",
                 net::endpoint(env.master_addr, env.master_port),
                 env.agent_store ? " hosted by the launcher" : " hosted by rank 0");
}

// One store connection per endpoint per process, shared by every init_distributed that is alive, so a
// second initialisation in the same process does not try to host the same port twice.
std::shared_ptr<TcpStore> shared_store(const LaunchEnv& env, std::chrono::milliseconds timeout) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<TcpStore>> cache;
  std::lock_guard<std::mutex> lock(mu);
  const std::string key = net::endpoint(env.master_addr, env.master_port);
  if (auto live = cache[key].lock()) return live;
  std::shared_ptr<TcpStore> store;
  if (env.agent_store) {
    try {
      store = TcpStore::connect(env.master_addr, env.master_port, timeout);
    } catch (const Error& e) {
      fail("rank ", env.rank, " could not reach the launcher's rendezvous store (TORCHELASTIC_USE_AGENT_STORE=True; ",
           where(env), "): ", e.what());
    }
  } else if (env.rank == 0) {
    store = TcpStore::host(env.master_port, timeout, env.master_addr);
  } else {
    try {
      store = TcpStore::connect(env.master_addr, env.master_port, timeout);
    } catch (const Error& e) {
      fail("rank ", env.rank, " could not reach the rendezvous store that rank 0 hosts (", where(env),
           "): rank 0 did not start, failed, or uses a different MASTER_ADDR/MASTER_PORT: ", e.what());
    }
  }
  cache[key] = store;
  return store;
}

std::string self_description() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  return str_cat(host, ":", ::getpid());
}

}  // namespace

Rendezvous rendezvous(const LaunchEnv& env, std::chrono::milliseconds timeout) {
  // Every rank of a job calls init_distributed the same number of times, so a count per job agrees across
  // ranks and keeps each initialisation's keys apart (an agent store outlives them all). Per job: a process
  // that self-launches ranks (api/self_launch.h) starts a new job with fresh workers for each LLM.
  const std::string job = str_cat("shardlm/", env.run_id.empty() ? "default" : env.run_id, "/attempt_",
                                  env.restart_count, "/");
  int init_index = 0;
  {
    static std::mutex mu;
    static std::map<std::string, int> init_counts;
    std::lock_guard<std::mutex> lock(mu);
    init_index = init_counts[job]++;
  }
  Rendezvous rv;
  rv.store = shared_store(env, timeout);
  rv.prefix = str_cat(job, "init_", init_index, "/");
  rv.store->set(rv.prefix + "join/" + std::to_string(env.rank), self_description());
  std::vector<std::string> keys;
  for (int r = 0; r < env.world_size; r++) keys.push_back(rv.prefix + "join/" + std::to_string(r));
  try {
    rv.store->wait(keys, timeout);
  } catch (const StoreTimeoutError&) {
    std::vector<int> missing;
    for (int r = 0; r < env.world_size; r++)
      if (!rv.store->check({keys[r]})) missing.push_back(r);
    std::string who;
    for (size_t i = 0; i < missing.size(); i++) who += (i ? ", " : "") + std::to_string(missing[i]);
    fail(missing.size() == 1 ? "rank " : "ranks ", who, " did not join the process group within ", seconds(timeout),
         " (", where(env), "; seen from rank ", env.rank,
         "): not started, crashed before init_distributed, or pointed at another MASTER_ADDR/MASTER_PORT");
  }
  return rv;
}

}  // namespace shardlm
