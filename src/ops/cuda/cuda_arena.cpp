// The CUDA memory arena (vLLM's CuMemAllocator idea): cuMemAddressReserve holds the addresses for the arena's
// lifetime; physical memory is created (cuMemCreate, pinned device memory), mapped and made accessible in
// granularity-sized runs as the arena grows. sleep() copies the used range to page-locked host memory when
// the contents are kept, then unmaps and releases every run (cudaMemGetInfo and nvidia-smi see the memory
// come back); wake() creates and maps runs of the same sizes at the same addresses and copies the contents
// back (or zeroes them), so CUDA graphs captured earlier and DLPack views keep working.
//
// The driver API comes through cudart's cudaGetDriverEntryPointByVersion, not by linking libcuda: the
// library (and the Python module) must load on machines without a driver.
#include "ops/cuda/cuda_arena.h"

#include <cuda.h>

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "ops/cuda/cuda_context.h"

namespace shardlm::cuda {

namespace {

// The entry points the arena uses (their ABI is that of CUDA 12.0, unchanged since the API came in 10.2).
struct DriverApi {
  decltype(&::cuGetErrorString) get_error_string = nullptr;
  decltype(&::cuMemAddressReserve) address_reserve = nullptr;
  decltype(&::cuMemAddressFree) address_free = nullptr;
  decltype(&::cuMemCreate) create = nullptr;
  decltype(&::cuMemRelease) release = nullptr;
  decltype(&::cuMemMap) map = nullptr;
  decltype(&::cuMemUnmap) unmap = nullptr;
  decltype(&::cuMemSetAccess) set_access = nullptr;
  decltype(&::cuMemGetAllocationGranularity) granularity = nullptr;
};

template <typename Fn>
void load_entry_point(const char* name, Fn* fn) {
  void* p = nullptr;
  cudaDriverEntryPointQueryResult status = cudaDriverEntryPointSymbolNotFound;
#if CUDART_VERSION >= 12050
  cudaError_t err = cudaGetDriverEntryPointByVersion(name, &p, 12000, cudaEnableDefault, &status);
#else
  cudaError_t err = cudaGetDriverEntryPoint(name, &p, cudaEnableDefault, &status);
#endif
  if (err != cudaSuccess || status != cudaDriverEntryPointSuccess || !p) {
    (void)cudaGetLastError();
    fail("sleep mode: the CUDA driver has no '", name, "' (its virtual memory API is needed for sleep mode)");
  }
  *fn = reinterpret_cast<Fn>(p);
}

const DriverApi& driver() {
  static const DriverApi api = [] {
    ensure_device();  // the runtime must be initialised to hand out driver entry points
    DriverApi a;
    load_entry_point("cuGetErrorString", &a.get_error_string);
    load_entry_point("cuMemAddressReserve", &a.address_reserve);
    load_entry_point("cuMemAddressFree", &a.address_free);
    load_entry_point("cuMemCreate", &a.create);
    load_entry_point("cuMemRelease", &a.release);
    load_entry_point("cuMemMap", &a.map);
    load_entry_point("cuMemUnmap", &a.unmap);
    load_entry_point("cuMemSetAccess", &a.set_access);
    load_entry_point("cuMemGetAllocationGranularity", &a.granularity);
    return a;
  }();
  return api;
}

void check(CUresult r, const char* what, const std::string& tag) {
  if (r == CUDA_SUCCESS) return;
  const char* msg = nullptr;
  if (driver().get_error_string) (void)driver().get_error_string(r, &msg);
  if (r == CUDA_ERROR_OUT_OF_MEMORY)
    fail("sleep mode: out of GPU memory in ", what, " for the '", tag, "' arena on device ", device_index(),
         " (", msg ? msg : "out of memory", "): free GPU memory used by other programs before wake_up()");
  fail("sleep mode: ", what, " failed for the '", tag, "' arena on device ", device_index(), ": ",
       msg ? msg : "unknown error", " (CUresult ", (int)r, ")");
}

class CudaArena final : public MemoryArena {
 public:
  CudaArena(const std::string& tag, size_t reserve_bytes) : MemoryArena(tag, Device::CUDA) {
    const DriverApi& api = driver();
    device_ = device_index();
    prop_.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop_.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop_.location.id = device_;
    access_.location = prop_.location;
    access_.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    size_t granularity = 0;
    check(api.granularity(&granularity, &prop_, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED), "cuMemGetAllocationGranularity",
          tag);
    if (granularity == 0) granularity = size_t(2) << 20;
    reserved_ = (std::max<size_t>(reserve_bytes, 1) + granularity - 1) / granularity * granularity;
    check(api.address_reserve(&base_, reserved_, granularity, 0, 0), "cuMemAddressReserve", tag);
    set_reservation(reinterpret_cast<char*>(base_), reserved_, granularity);
  }

  ~CudaArena() override {
    // Tensors in the arena are gone, but work queued on them may still run.
    (void)cudaStreamSynchronize(stream());
    (void)cudaGetLastError();
    const DriverApi& api = driver();
    for (Run& r : runs_) {
      if (!r.mapped) continue;
      (void)api.unmap(base_ + r.offset, r.size);
      (void)api.release(r.handle);
    }
    if (host_copy_) (void)cudaFreeHost(host_copy_);
    (void)api.address_free(base_, reserved_);
  }

 protected:
  void commit(size_t committed, size_t new_committed) override {
    ensure_device();
    runs_.push_back(Run{committed, new_committed - committed, 0, false});
    map_run(runs_.back());
  }

  void release(size_t used, size_t, bool keep) override {
    ensure_device();
    SHARDLM_CUDA_CHECK(cudaDeviceSynchronize());  // nothing queued may still touch the memory
    if (keep && used > 0) {
      SHARDLM_CUDA_CHECK(cudaHostAlloc(&host_copy_, used, cudaHostAllocDefault));
      SHARDLM_CUDA_CHECK(cudaMemcpy(host_copy_, base(), used, cudaMemcpyDeviceToHost));
    }
    const DriverApi& api = driver();
    for (Run& r : runs_) {
      if (!r.mapped) continue;
      check(api.unmap(base_ + r.offset, r.size), "cuMemUnmap", tag());
      check(api.release(r.handle), "cuMemRelease", tag());
      r.mapped = false;
    }
  }

  void restore(size_t used, size_t, bool kept) override {
    ensure_device();
    for (Run& r : runs_)
      if (!r.mapped) map_run(r);  // a failed wake_up can be retried: mapped runs stay
    if (used == 0) return;
    if (kept && host_copy_) {
      SHARDLM_CUDA_CHECK(cudaMemcpy(base(), host_copy_, used, cudaMemcpyHostToDevice));
      SHARDLM_CUDA_CHECK(cudaFreeHost(host_copy_));
      host_copy_ = nullptr;
    } else {
      SHARDLM_CUDA_CHECK(cudaMemsetAsync(base(), 0, used, stream()));  // as the CPU arena reads after a discard
      SHARDLM_CUDA_CHECK(cudaStreamSynchronize(stream()));
    }
  }

 private:
  struct Run {  // one physical allocation, mapped at base + offset
    size_t offset, size;
    CUmemGenericAllocationHandle handle;
    bool mapped;
  };

  void map_run(Run& r) {
    const DriverApi& api = driver();
    CUmemGenericAllocationHandle h = 0;
    check(api.create(&h, r.size, &prop_, 0), "cuMemCreate", tag());
    CUresult res = api.map(base_ + r.offset, r.size, 0, h, 0);
    if (res != CUDA_SUCCESS) {
      (void)api.release(h);
      check(res, "cuMemMap", tag());
    }
    res = api.set_access(base_ + r.offset, r.size, &access_, 1);
    if (res != CUDA_SUCCESS) {
      (void)api.unmap(base_ + r.offset, r.size);
      (void)api.release(h);
      check(res, "cuMemSetAccess", tag());
    }
    r.handle = h;
    r.mapped = true;
  }

  int device_ = 0;
  CUmemAllocationProp prop_ = {};
  CUmemAccessDesc access_ = {};
  CUdeviceptr base_ = 0;
  size_t reserved_ = 0;
  std::vector<Run> runs_;
  void* host_copy_ = nullptr;  // the kept contents while asleep
};

}  // namespace

std::shared_ptr<MemoryArena> make_cuda_arena(const std::string& tag, size_t reserve_bytes) {
  return std::make_shared<CudaArena>(tag, reserve_bytes);
}

}  // namespace shardlm::cuda
