// Which transport a CPU process group's tensor collectives use: shared memory when every rank of the
// group is on this host, Gloo otherwise. Decided through the rendezvous store, never guessed from
// addresses: each rank publishes what identifies its host (host_identity()), and the group uses shared
// memory only when all of them are equal. SHARDLM_CPU_COLLECTIVES (auto | shm | gloo) forces a choice.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "distributed/tcp_store.h"

namespace shardlm {

// Everything two processes must share for a shared-memory group to work between them: the kernel's boot
// id and the hostname (the machine), the /dev/shm mount (device and inode: the same tmpfs), and the
// network and pid namespaces (pids are checked for liveness; a separate network namespace is treated as a
// separate host, as a container or a multi-host test would expect). A part that cannot be read makes the
// identity unique to this process, so such a rank never shares memory with anyone.
std::string host_identity();

enum class CpuCollectives { Gloo, Shm };

struct CpuCollectivesChoice {
  CpuCollectives transport = CpuCollectives::Gloo;
  bool forced = false;   // SHARDLM_CPU_COLLECTIVES named it (so falling back is an error)
  std::string why;       // for logs: "every rank on one host", "ranks on 2 hosts", "SHARDLM_CPU_COLLECTIVES=gloo"
};

// The setting of SHARDLM_CPU_COLLECTIVES on this rank: "auto" when unset. Error for any other value.
std::string cpu_collectives_setting();

// Collective over the group: every rank publishes its identity and setting under `prefix`
// ("<group prefix>host/<group rank>") and reads everyone's. All ranks get the same answer. Errors: ranks
// disagree on SHARDLM_CPU_COLLECTIVES (names them), or shm is forced for ranks on different hosts (names
// the hosts), or a rank does not publish within `timeout`.
CpuCollectivesChoice choose_cpu_collectives(TcpStore& store, const std::string& prefix, const std::vector<int>& global_ranks,
                                            int group_rank, std::chrono::milliseconds timeout);

}  // namespace shardlm
