// GroupOptions: what every ProcessGroup backend is told about its group when it is created.
#pragma once
#include <chrono>
#include <string>
#include <vector>

namespace shardlm {

struct GroupOptions {
  std::string name = "world";        // for messages ("world", "tp0", "dp1")
  std::vector<int> global_ranks;     // group rank -> global rank
  int group_rank = 0;                // this process's rank in the group
  std::string store_prefix;          // unique to this group instance, ends with '/'
  std::chrono::milliseconds timeout{60000};  // set-up, and how long a collective waits for a peer
};

}  // namespace shardlm
