// The gloo ProcessGroup: CPU collectives over gloo's TCP transport, with rendezvous through the
// TcpStore and gloo failures turned into shardlm::Error naming the lost rank.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "distributed/process_group.h"
#include "distributed/tcp_store.h"

namespace shardlm {

struct GlooGroupOptions {
  std::string name = "world";        // for messages
  std::vector<int> global_ranks;     // group rank -> global rank
  int group_rank = 0;                // this process's rank in the group
  std::string store_prefix;          // unique to this group instance, ends with '/'
  std::chrono::milliseconds timeout{60000};  // connecting and every collective
  std::string hostname;              // local address peers connect to ...
  std::string iface;                 // ... or a network interface (GLOO_SOCKET_IFNAME), which wins
};

// Connects the full mesh (every pair of ranks) and runs one barrier. Errors name the missing rank.
std::shared_ptr<ProcessGroup> create_gloo_group(std::shared_ptr<TcpStore> store, const GlooGroupOptions& opts);

}  // namespace shardlm
