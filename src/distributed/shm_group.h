// The shared-memory ProcessGroup: collectives between ranks on one host through one mapped segment
// (shm_segment.h), for the CPU device group when every rank of a group shares the host (host_identity.h).
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "distributed/group_options.h"
#include "distributed/process_group.h"
#include "distributed/tcp_store.h"

namespace shardlm {

struct ShmGroupOptions : GroupOptions {
  size_t slot_bytes = 0;             // per rank and buffer; 0 picks a size from the group size
};

// Collective over the group. Returns null on every rank when some rank could not set up the segment
// (`why_not` says which rank and why): the caller falls back to Gloo or fails. Errors: a peer died or hung
// during set-up.
std::shared_ptr<ProcessGroup> create_shm_group(std::shared_ptr<TcpStore> store, const ShmGroupOptions& opts,
                                               std::string* why_not);

}  // namespace shardlm
