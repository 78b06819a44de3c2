// The gloo ProcessGroup: CPU collectives over gloo's TCP transport, with rendezvous through the
// TcpStore and gloo failures turned into shardlm::Error naming the lost rank.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "distributed/group_options.h"
#include "distributed/process_group.h"
#include "distributed/tcp_store.h"

namespace shardlm {

struct GlooGroupOptions : GroupOptions {
  std::string hostname;              // local address peers connect to ...
  std::string iface;                 // ... or a network interface (GLOO_SOCKET_IFNAME), which wins
};

// Connects the full mesh (every pair of ranks) and runs one barrier. Errors name the missing rank.
std::shared_ptr<ProcessGroup> create_gloo_group(std::shared_ptr<TcpStore> store, const GlooGroupOptions& opts);

}  // namespace shardlm
