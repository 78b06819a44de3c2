// Process groups of one engine process, in vLLM's shape: the world group, the tensor-parallel group and
// the data-parallel group, each with a CPU (gloo) group for control messages and a device group for tensors.
//
// Rank layout (vLLM's, TP innermost), world_size = data_parallel_size * tensor_parallel_size:
//   global rank r:  dp_rank = r / tp,  tp_rank = r % tp
//   TP group of r:  ranks [dp_rank * tp, (dp_rank + 1) * tp)      (one engine replica)
//   DP group of r:  ranks {q : q % tp == tp_rank}                 (the same shard in every replica)
// e.g. dp=2, tp=2: TP groups {0,1} {2,3}; DP groups {0,2} {1,3}.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "distributed/launch_env.h"
#include "distributed/process_group.h"

namespace shardlm {

class TcpStore;

struct DistributedOptions {
  int tensor_parallel_size = 1;
  // Engine replicas. 1 also means "not given": when the launcher started a multiple of
  // tensor_parallel_size processes, world_size / tensor_parallel_size replicas are used (vLLM's external DP).
  int data_parallel_size = 1;
  // Rendezvous and every collective. The environment variable SHARDLM_DIST_TIMEOUT (seconds, may be
  // fractional) overrides it.
  std::chrono::milliseconds timeout{60000};
  Device device = Device::CPU;  // device group backend: CPU -> gloo; CUDA -> the registered factory
};

struct GroupCoordinator {       // vLLM's shape
  std::vector<int> ranks;       // global ranks in this group
  int rank_in_group = 0, world_size = 1;
  std::shared_ptr<ProcessGroup> cpu_group;     // gloo, for control messages
  // CPU: shared memory ("shm") when every rank of the group is on one host, else the gloo group itself
  // (host_identity.h; SHARDLM_CPU_COLLECTIVES forces either). CUDA: the registered factory's (nccl).
  std::shared_ptr<ProcessGroup> device_group;
};

struct DistributedState {
  LaunchEnv env;
  GroupCoordinator world;
  GroupCoordinator tp;  // this replica's ranks; the same groups as world when data_parallel_size == 1
  GroupCoordinator dp;  // ranks holding the same shard; rank_in_group is the replica (dp_rank), world_size dp_size.
                        // Single-process groups when data_parallel_size == 1; the world's when tp == 1.
  std::chrono::milliseconds timeout{60000};
  std::shared_ptr<TcpStore> store;  // null for a single process; keeps a hosted store server alive
};

// Joins the launcher's process groups. world_size must equal data_parallel_size * tensor_parallel_size, with
// data_parallel_size inferred as above when it is 1 (Error naming the three numbers otherwise). With
// world_size == 1, returns trivial single-process groups without any networking.
std::shared_ptr<DistributedState> init_distributed(const DistributedOptions& opts);
// Same, with the launch environment given (tests; callers that detected it already).
std::shared_ptr<DistributedState> init_distributed(const DistributedOptions& opts, const LaunchEnv& env);

// The number of replicas for `world_size` processes: opts.data_parallel_size, or world_size /
// tensor_parallel_size when that is 1 and divides. Error naming the three numbers when world_size is not
// dp * tp; `inferred` (optional) says whether the number was inferred.
int resolve_data_parallel_size(const DistributedOptions& opts, const LaunchEnv& env, bool* inferred = nullptr);

// opts.timeout, or SHARDLM_DIST_TIMEOUT from `env` when set. Error on a non-positive or non-numeric value.
std::chrono::milliseconds effective_timeout(const DistributedOptions& opts,
                                            const std::map<std::string, std::string>& env);

// Hook for the CUDA backend: creates the device group from the cpu group (of any group: world, TP, DP).
using DeviceGroupFactory =
    std::function<std::shared_ptr<ProcessGroup>(const std::shared_ptr<ProcessGroup>& cpu_group, int device_index)>;
void register_device_group_factory(Device d, DeviceGroupFactory f);

}  // namespace shardlm
