// Public Group wrapper over the internal ProcessGroup.
#include "shardlm/distributed.h"

#include <algorithm>

#include "core/error.h"
#include "core/tensor.h"
#include "distributed/process_group.h"

namespace shardlm {

namespace {
ProcessGroup& need(const std::shared_ptr<ProcessGroup>& pg) {
  if (!pg) fail("this Group is not initialised");
  return *pg;
}
Device group_device(const ProcessGroup& pg) { return pg.backend() == "nccl" ? Device::CUDA : Device::CPU; }
}  // namespace

int Group::rank() const { return need(pg_).rank(); }
int Group::size() const { return need(pg_).size(); }
std::string Group::backend() const { return need(pg_).backend(); }
void Group::barrier() { need(pg_).barrier(); }
void Group::broadcast_bytes(std::string& bytes, int root) { need(pg_).broadcast_bytes(bytes, root); }
std::vector<std::string> Group::all_gather_bytes(const std::string& mine) { return need(pg_).all_gather_bytes(mine); }

void Group::all_reduce_sum(std::vector<float>& values) {
  ProcessGroup& pg = need(pg_);
  Tensor t = Tensor::from_f32(values, {(int64_t)values.size()});
  Tensor d = group_device(pg) == Device::CPU ? t : t.to(group_device(pg));
  pg.all_reduce(d, ReduceOp::Sum);
  Tensor h = d.device() == Device::CPU ? d : d.to(Device::CPU);
  std::copy_n(h.data<float>(), values.size(), values.begin());
}

std::vector<float> Group::all_gather(const std::vector<float>& mine) {
  ProcessGroup& pg = need(pg_);
  const Device dev = group_device(pg);
  Tensor in = Tensor::from_f32(mine, {(int64_t)mine.size()});
  if (dev != Device::CPU) in = in.to(dev);
  Tensor out = Tensor::empty({(int64_t)mine.size() * pg.size()}, DType::F32, dev);
  pg.all_gather(in, out);
  Tensor h = dev == Device::CPU ? out : out.to(Device::CPU);
  return std::vector<float>(h.data<float>(), h.data<float>() + h.numel());
}

void Group::broadcast(std::vector<float>& values, int root) {
  ProcessGroup& pg = need(pg_);
  const Device dev = group_device(pg);
  Tensor t = Tensor::from_f32(values, {(int64_t)values.size()});
  if (dev != Device::CPU) t = t.to(dev);
  pg.broadcast(t, root);
  Tensor h = dev == Device::CPU ? t : t.to(Device::CPU);
  std::copy_n(h.data<float>(), values.size(), values.begin());
}

}  // namespace shardlm
