// ProcessGroup: the collective-communication interface every backend implements (gloo on CPU now,
// nccl on CUDA later), plus the trivial single-process group used when world size is 1.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace shardlm {

enum class ReduceOp { Sum, Max, Min };
std::string reduce_op_name(ReduceOp op);

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;  // "gloo", "shm", "nccl"; "single" for one process
  // In place; F32, I32, I64, F16, BF16, U8.
  virtual void all_reduce(Tensor& t, ReduceOp op = ReduceOp::Sum) = 0;
  // out: size()*in.dim(0) rows along dim 0, in rank order; other dims and dtype as in.
  virtual void all_gather(const Tensor& in, Tensor& out) = 0;
  virtual void broadcast(Tensor& t, int root) = 0;
  virtual void barrier() = 0;
  // Control messages of any length (serialised objects): root's bytes to everyone / everyone's bytes
  // to everyone.
  virtual void broadcast_bytes(std::string& bytes, int root) = 0;
  virtual std::vector<std::string> all_gather_bytes(const std::string& mine) = 0;
};

// The group of one process: collectives are copies or no-ops. No networking.
class SingleProcessGroup : public ProcessGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "single"; }
  void all_reduce(Tensor& t, ReduceOp op) override;
  void all_gather(const Tensor& in, Tensor& out) override;
  void broadcast(Tensor& t, int root) override;
  void barrier() override {}
  void broadcast_bytes(std::string& bytes, int root) override;
  std::vector<std::string> all_gather_bytes(const std::string& mine) override { return {mine}; }
};

// Argument checks shared by the backends; each throws shardlm::Error naming the collective and the
// offending shape / dtype / device / root.
void check_all_reduce_args(const Tensor& t, const std::string& backend, Device expected_device);
void check_all_gather_args(const Tensor& in, const Tensor& out, int group_size, const std::string& backend,
                           Device expected_device);
void check_broadcast_args(const Tensor& t, int root, int group_size, const std::string& backend,
                          Device expected_device);
void check_root(int root, int group_size, const char* op);

}  // namespace shardlm
