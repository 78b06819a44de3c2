// Process groups for user programs, in vLLM's shape: a group has a `cpu_group` for control messages (Gloo)
// and a `device_group` for tensors (Gloo on CPUs, NCCL on GPUs). Every call is collective: all ranks of the
// group must make it, in the same order.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace shardlm {

class ProcessGroup;  // internal

class Group {
 public:
  Group() = default;
  explicit Group(std::shared_ptr<ProcessGroup> pg) : pg_(std::move(pg)) {}
  int rank() const;
  int size() const;
  std::string backend() const;  // "gloo", "nccl", or "local" for a single process
  void barrier();
  // Control messages: the root's bytes to every rank / every rank's bytes to every rank.
  void broadcast_bytes(std::string& bytes, int root);
  std::vector<std::string> all_gather_bytes(const std::string& mine);
  // Host float data (copied to the group's device and back when the group is a device group).
  void all_reduce_sum(std::vector<float>& values);
  std::vector<float> all_gather(const std::vector<float>& mine);  // size() * mine.size(), rank order
  void broadcast(std::vector<float>& values, int root);
  ProcessGroup* get() const { return pg_.get(); }

 private:
  std::shared_ptr<ProcessGroup> pg_;
};

struct DistributedGroup {
  Group cpu_group;
  Group device_group;
  int rank = 0;            // rank within this group
  int world_size = 1;
  std::vector<int> ranks;  // global rank of each group rank
};

}  // namespace shardlm
