// NCCL device group: all_reduce / all_gather / broadcast / barrier on the backend's stream, so collectives
// are ordered with the ops around them; host tensors fall through to the CPU group.
#include "ops/cuda/nccl_group.h"

#include <cstring>
#include <string>

#include "ops/cuda/cuda_context.h"

#ifdef SHARDLM_HAVE_NCCL
#include <nccl.h>
#endif
// The distributed module's factory registry, once it is in the tree (until then the caller wires
// make_nccl_group itself).
#if __has_include("distributed/parallel_state.h")
#include "distributed/parallel_state.h"
#define SHARDLM_HAVE_DEVICE_GROUP_REGISTRY 1
#endif

namespace shardlm {

#ifdef SHARDLM_HAVE_NCCL
namespace {

#define SHARDLM_NCCL_CHECK(expr)                                                                       \
  do {                                                                                                 \
    ncclResult_t shardlm_r_ = (expr);                                                                  \
    if (shardlm_r_ != ncclSuccess)                                                                     \
      fail("NCCL error '", ncclGetErrorString(shardlm_r_), "' in ", #expr, " at ", __FILE__, ":", __LINE__, \
           last_error_detail());                                                                      \
  } while (0)

std::string last_error_detail() {
  const char* s = ncclGetLastError(nullptr);
  return s && *s ? std::string(": ") + s : std::string();
}

ncclDataType_t nccl_type(DType dt) {
  switch (dt) {
    case DType::F32: return ncclFloat32;
    case DType::F16: return ncclFloat16;
    case DType::BF16: return ncclBfloat16;
    case DType::I32: return ncclInt32;
    case DType::I64: return ncclInt64;
    case DType::U8: return ncclUint8;
    case DType::F8E4M3: break;  // never reduced
  }
  fail("nccl: unknown dtype");
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return ncclSum;
    case ReduceOp::Max: return ncclMax;
    case ReduceOp::Min: return ncclMin;
  }
  fail("nccl: unknown reduce op");
}

class NcclGroup final : public ProcessGroup {
 public:
  NcclGroup(std::shared_ptr<ProcessGroup> cpu, int device_index) : cpu_(std::move(cpu)) {
    if (!cpu_) fail("nccl group: a CPU process group is required to exchange the NCCL id");
    int devices = 0;
    SHARDLM_CUDA_CHECK(cudaGetDeviceCount(&devices));
    if (device_index < 0) fail("nccl group: negative device index ", device_index);
    cuda::set_device_index(device_index % devices);  // LOCAL_RANK % visible devices, as the backend picks
    cuda::ensure_device();
    ncclUniqueId id;
    std::memset(&id, 0, sizeof id);
    std::string bytes;
    if (cpu_->rank() == 0) {
      SHARDLM_NCCL_CHECK(ncclGetUniqueId(&id));
      bytes.assign(reinterpret_cast<const char*>(&id), sizeof id);
    }
    cpu_->broadcast_bytes(bytes, 0);
    if (bytes.size() != sizeof id)
      fail("nccl group: received a ", bytes.size(), "-byte NCCL id from rank 0, expected ", sizeof id);
    std::memcpy(&id, bytes.data(), sizeof id);
    SHARDLM_NCCL_CHECK(ncclCommInitRank(&comm_, cpu_->size(), id, cpu_->rank()));
    SHARDLM_CUDA_CHECK(cudaMalloc(&scratch_, sizeof(float)));
    SHARDLM_CUDA_CHECK(cudaMemset(scratch_, 0, sizeof(float)));
  }

  ~NcclGroup() override {
    if (scratch_) (void)cudaFree(scratch_);
    if (comm_) (void)ncclCommDestroy(comm_);
  }

  int rank() const override { return cpu_->rank(); }
  int size() const override { return cpu_->size(); }
  std::string backend() const override { return "nccl"; }

  void all_reduce(Tensor& t, ReduceOp op) override {
    if (t.device() == Device::CPU) return cpu_->all_reduce(t, op);
    cuda::ensure_device();
    SHARDLM_NCCL_CHECK(ncclAllReduce(t.raw(), t.raw(), (size_t)t.numel(), nccl_type(t.dtype()), nccl_op(op), comm_,
                                     cuda::stream()));
  }

  void all_gather(const Tensor& in, Tensor& out) override {
    if (in.device() == Device::CPU && out.device() == Device::CPU) return cpu_->all_gather(in, out);
    if (in.device() != Device::CUDA || out.device() != Device::CUDA)
      fail("nccl all_gather: input and output must both be on the GPU (or both on the host)");
    if (in.dtype() != out.dtype() || out.numel() != in.numel() * size())
      fail("nccl all_gather: output ", out.shape_str(), " must hold ", size(), " copies of input ", in.shape_str(),
           " in the same dtype");
    cuda::ensure_device();
    SHARDLM_NCCL_CHECK(ncclAllGather(in.raw(), out.raw(), (size_t)in.numel(), nccl_type(in.dtype()), comm_,
                                     cuda::stream()));
  }

  void broadcast(Tensor& t, int root) override {
    if (t.device() == Device::CPU) return cpu_->broadcast(t, root);
    if (root < 0 || root >= size()) fail("nccl broadcast: root ", root, " is not a rank of a group of ", size());
    cuda::ensure_device();
    SHARDLM_NCCL_CHECK(ncclBroadcast(t.raw(), t.raw(), (size_t)t.numel(), nccl_type(t.dtype()), root, comm_,
                                     cuda::stream()));
  }

  // Returns once every rank has reached it and this rank's queued GPU work is done.
  void barrier() override {
    cuda::ensure_device();
    SHARDLM_NCCL_CHECK(ncclAllReduce(scratch_, scratch_, 1, ncclFloat32, ncclSum, comm_, cuda::stream()));
    SHARDLM_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
  }

  void broadcast_bytes(std::string& bytes, int root) override { cpu_->broadcast_bytes(bytes, root); }
  std::vector<std::string> all_gather_bytes(const std::string& mine) override { return cpu_->all_gather_bytes(mine); }

 private:
  std::shared_ptr<ProcessGroup> cpu_;
  ncclComm_t comm_ = nullptr;
  void* scratch_ = nullptr;
};

}  // namespace

std::shared_ptr<ProcessGroup> make_nccl_group(const std::shared_ptr<ProcessGroup>& cpu_group, int device_index) {
  return std::make_shared<NcclGroup>(cpu_group, device_index);
}

#ifdef SHARDLM_HAVE_DEVICE_GROUP_REGISTRY
namespace {
struct Registrar {
  Registrar() {
    if (cuda::gpu_present()) register_device_group_factory(Device::CUDA, make_nccl_group);
  }
} g_registrar;
}  // namespace
#endif

#else  // no NCCL in this build

std::shared_ptr<ProcessGroup> make_nccl_group(const std::shared_ptr<ProcessGroup>&, int) {
  fail("this build of shardlm has no NCCL: rebuild with NCCL installed to use GPU tensor parallelism");
}

#endif

}  // namespace shardlm
