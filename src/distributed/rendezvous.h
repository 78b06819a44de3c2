// Rendezvous: reach the launcher's TCPStore (torchrun / shardlm-run host it; otherwise rank 0 does) and
// wait until every rank has checked in, naming the ranks that never arrive.
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include "distributed/launch_env.h"
#include "distributed/tcp_store.h"

namespace shardlm {

struct Rendezvous {
  std::shared_ptr<TcpStore> store;  // owns the server when this rank hosts it
  std::string prefix;               // keys of this init: "shardlm/<run>/attempt_<n>/init_<k>/"
};

// Under an agent store (TORCHELASTIC_USE_AGENT_STORE) joins it as a client; otherwise rank 0 hosts a
// server at MASTER_PORT and the others connect, retrying until `timeout`. Then every rank checks in and
// waits for all others. Errors: the store cannot be reached or hosted (names address:port), or
// "rank R did not join the process group within T s".
Rendezvous rendezvous(const LaunchEnv& env, std::chrono::milliseconds timeout);

}  // namespace shardlm
