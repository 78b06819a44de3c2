// Process groups of one engine process, in vLLM's shape: the world group and the tensor-parallel group,
// each with a CPU (gloo) group for control messages and a device group for tensors.
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
  // Rendezvous and every collective. The environment variable SHARDLM_DIST_TIMEOUT (seconds, may be
  // fractional) overrides it.
  std::chrono::milliseconds timeout{60000};
  Device device = Device::CPU;  // device group backend: CPU -> gloo; CUDA -> the registered factory
};

struct GroupCoordinator {       // vLLM's shape
  std::vector<int> ranks;       // global ranks in this group
  int rank_in_group = 0, world_size = 1;
  std::shared_ptr<ProcessGroup> cpu_group;     // gloo, for control messages
  std::shared_ptr<ProcessGroup> device_group;  // gloo on CPU; nccl on CUDA later
};

struct DistributedState {
  LaunchEnv env;
  GroupCoordinator world;
  GroupCoordinator tp;  // equals world while world_size == tensor_parallel_size
  std::chrono::milliseconds timeout{60000};
  std::shared_ptr<TcpStore> store;  // null for a single process; keeps a hosted store server alive
};

// Joins the launcher's process groups. world_size must equal tensor_parallel_size (Error naming both
// otherwise). With world_size == 1, returns trivial single-process groups without any networking.
std::shared_ptr<DistributedState> init_distributed(const DistributedOptions& opts);
// Same, with the launch environment given (tests; callers that detected it already).
std::shared_ptr<DistributedState> init_distributed(const DistributedOptions& opts, const LaunchEnv& env);

// opts.timeout, or SHARDLM_DIST_TIMEOUT from `env` when set. Error on a non-positive or non-numeric value.
std::chrono::milliseconds effective_timeout(const DistributedOptions& opts,
                                            const std::map<std::string, std::string>& env);

// Hook for the CUDA backend: creates the device group from the cpu group.
using DeviceGroupFactory =
    std::function<std::shared_ptr<ProcessGroup>(const std::shared_ptr<ProcessGroup>& cpu_group, int device_index)>;
void register_device_group_factory(Device d, DeviceGroupFactory f);

}  // namespace shardlm
