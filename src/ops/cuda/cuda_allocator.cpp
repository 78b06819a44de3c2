// The CUDA DeviceAllocator: cudaMalloc behind a size-keyed cache, so the many per-step activation tensors
// reuse freed blocks instead of paying cudaMalloc/cudaFree (which synchronise the device) every step.
// Blocks are reused in stream order: every op runs on the one stream, so work queued on a freed block
// completes before work queued by its next owner. Private pools for CUDA graphs (cuda_allocator.h) keep
// their blocks apart from the general cache. Also page-locked host memory and asynchronous copies for the
// step inputs. Registered at static init only when a GPU is visible.
#include "ops/cuda/cuda_allocator.h"

#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>

#include "core/memory_arena.h"
#include "core/tensor.h"
#include "ops/cuda/cuda_arena.h"
#include "ops/cuda/cuda_context.h"

namespace shardlm::cuda {

namespace {

constexpr size_t kSmallRounding = 512;             // bytes; below kLargeThreshold
constexpr size_t kLargeThreshold = size_t(1) << 20;
constexpr size_t kLargeRounding = size_t(2) << 20;  // 2 MiB pages above it

size_t round_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  size_t unit = bytes < kLargeThreshold ? kSmallRounding : kLargeRounding;
  return (bytes + unit - 1) / unit * unit;
}

using FreeList = std::multimap<size_t, void*>;  // cached blocks by rounded size

// Best fit among cached blocks, but never more than twice the request (keeps waste bounded). Returns the
// block and sets *size to its size, or null.
void* take_cached(FreeList& list, size_t* size) {
  auto it = list.lower_bound(*size);
  if (it == list.end() || it->first > 2 * *size) return nullptr;
  void* p = it->second;
  *size = it->first;
  list.erase(it);
  return p;
}

thread_local int t_pool = 0;  // the calling thread's active private pool; 0: the general cache

class CachingCudaAllocator final : public DeviceAllocator {
 public:
  void* allocate(size_t bytes) override {
    ensure_device();
    size_t size = round_size(bytes);
    const int pool_id = t_pool;
    std::lock_guard<std::mutex> lock(mutex_);
    Pool* pool = nullptr;
    if (pool_id != 0) {
      auto it = pools_.find(pool_id);
      if (it == pools_.end()) fail("CUDA allocator: memory pool ", pool_id, " is not active (released?)");
      pool = &it->second;
    }
    FreeList& cache = pool ? pool->free : free_;
    if (void* p = take_cached(cache, &size)) {
      live_[p] = Block{size, pool_id};
      cached_bytes_ -= size;
      live_bytes_ += size;
      return p;
    }
    void* p = nullptr;
    cudaError_t err = cudaSuccess;
    if (pool) {
      // The thread may be capturing a graph, where cudaMalloc is legal only in relaxed capture mode (PyTorch
      // switches the same way). No cudaFree on failure: it synchronises, which a capture forbids.
      cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
      SHARDLM_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
      err = cudaMalloc(&p, size);
      (void)cudaThreadExchangeStreamCaptureMode(&mode);
    } else {
      err = cudaMalloc(&p, size);
      if (err == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        release_cached_locked();
        err = cudaMalloc(&p, size);
      }
    }
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      (void)cudaMemGetInfo(&free_b, &total_b);
      (void)cudaGetLastError();
      fail("out of GPU memory allocating ", bytes, " bytes on device ", device_index(),
           pool ? " for a CUDA graph" : "", " (", free_b >> 20, " MiB free of ", total_b >> 20, " MiB; ",
           live_bytes_ >> 20, " MiB held by tensors, ", cached_bytes_ >> 20, " MiB cached): lower the KV-cache ",
           "memory budget (--gpu-memory-utilization) or the batch size",
           pool ? ", or run without CUDA graphs (--enforce-eager)" : "");
    }
    live_[p] = Block{size, pool_id};
    live_bytes_ += size;
    if (pool) pool->bytes += size;
    return p;
  }

  void deallocate(void* p) override {
    if (!p) return;
    if (MemoryArena* arena = find_arena(p)) {  // sleep mode: arena addresses never reach the cache or cudaFree
      arena->deallocate(p);
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(p);
    if (it == live_.end()) return;  // not ours; never happens for tensors made by allocate()
    const Block b = it->second;
    live_.erase(it);
    live_bytes_ -= b.size;
    cached_bytes_ += b.size;
    // A pool's block goes back to its pool while the pool exists (graphs may still replay its address).
    if (b.pool != 0) {
      auto pit = pools_.find(b.pool);
      if (pit != pools_.end()) {
        pit->second.free.emplace(b.size, p);
        return;
      }
    }
    free_.emplace(b.size, p);
  }

  void copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) override {
    if (bytes == 0) return;
    const cudaMemcpyKind kind = copy_kind(dst_dev, src_dev);
    cudaStream_t s = stream();
    SHARDLM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, s));
    // The host may read (D2H) or free/reuse (H2D from pinned memory) its side right after we return.
    if (kind != cudaMemcpyDeviceToDevice) SHARDLM_CUDA_CHECK(cudaStreamSynchronize(s));
  }

  void memset_zero(void* p, size_t bytes) override {
    if (bytes == 0) return;
    SHARDLM_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream()));
  }

  bool memory_info(size_t* free_bytes, size_t* total_bytes) override {
    ensure_device();
    SHARDLM_CUDA_CHECK(cudaDeviceSynchronize());
    SHARDLM_CUDA_CHECK(cudaMemGetInfo(free_bytes, total_bytes));
    return true;
  }

  int device_index() const override { return cuda::device_index(); }

  std::string model_name() const override {
    ensure_device();
    cudaDeviceProp prop{};
    SHARDLM_CUDA_CHECK(cudaGetDeviceProperties(&prop, cuda::device_index()));
    return prop.name;
  }

  void release_cached() override {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cached_locked();
  }

  std::shared_ptr<MemoryArena> create_arena(const std::string& tag, size_t reserve_bytes) override {
    ensure_device();
    return make_cuda_arena(tag, reserve_bytes);
  }

  void* allocate_host(size_t bytes) override {
    ensure_device();
    void* p = nullptr;
    SHARDLM_CUDA_CHECK(cudaHostAlloc(&p, bytes == 0 ? 1 : bytes, cudaHostAllocDefault));
    return p;
  }

  void deallocate_host(void* p) override {
    if (p) (void)cudaFreeHost(p);
  }

  // Pinned host memory makes this a true DMA copy; the event marks the latest one for wait_async_copies().
  void copy_async(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) override {
    if (bytes == 0) return;
    cudaStream_t s = stream();
    SHARDLM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, copy_kind(dst_dev, src_dev), s));
    std::lock_guard<std::mutex> lock(mutex_);
    if (!copy_event_) SHARDLM_CUDA_CHECK(cudaEventCreateWithFlags(&copy_event_, cudaEventDisableTiming));
    SHARDLM_CUDA_CHECK(cudaEventRecord(copy_event_, s));
  }

  void wait_async_copies() override {
    cudaEvent_t e = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      e = copy_event_;
    }
    if (e) SHARDLM_CUDA_CHECK(cudaEventSynchronize(e));
  }

  int create_pool() {
    std::lock_guard<std::mutex> lock(mutex_);
    const int id = next_pool_++;
    pools_[id];
    return id;
  }

  void release_pool(int id) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = pools_.find(id);
    if (it == pools_.end()) return;
    // Its cached blocks join the general cache; its live blocks follow when they are freed (deallocate finds
    // no pool). Safe without a synchronisation: later users of these blocks queue after the graphs' last
    // replay on the same stream.
    free_.merge(it->second.free);
    pools_.erase(it);
  }

  size_t pool_bytes(int id) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = pools_.find(id);
    return it == pools_.end() ? 0 : it->second.bytes;
  }

 private:
  struct Block {
    size_t size;  // rounded
    int pool;     // 0: general cache
  };
  struct Pool {
    FreeList free;
    size_t bytes = 0;  // every block ever allocated for it
  };

  static cudaMemcpyKind copy_kind(Device dst_dev, Device src_dev) {
    if (src_dev == Device::CPU && dst_dev == Device::CUDA) return cudaMemcpyHostToDevice;
    if (src_dev == Device::CUDA && dst_dev == Device::CPU) return cudaMemcpyDeviceToHost;
    if (src_dev == Device::CUDA && dst_dev == Device::CUDA) return cudaMemcpyDeviceToDevice;
    return cudaMemcpyHostToHost;
  }

  void release_cached_locked() {
    // cudaFree synchronises the device, so no queued work still uses these blocks. Pool blocks stay: graphs
    // hold their addresses.
    for (auto& [size, p] : free_) {
      (void)cudaFree(p);
      cached_bytes_ -= size;
    }
    free_.clear();
  }

  std::mutex mutex_;
  FreeList free_;                          // the general cache
  std::unordered_map<void*, Block> live_;  // blocks held by tensors
  std::map<int, Pool> pools_;
  int next_pool_ = 1;
  size_t live_bytes_ = 0, cached_bytes_ = 0;  // cached: general cache and pools together
  cudaEvent_t copy_event_ = nullptr;
};

CachingCudaAllocator* g_allocator = nullptr;

CachingCudaAllocator& the_allocator() {
  if (!g_allocator) fail("CUDA memory pools: no GPU is visible");
  return *g_allocator;
}

struct Registrar {
  Registrar() {
    if (!gpu_present()) return;
    // Leaked on purpose: tensors may be freed during static destruction, after a static allocator would die.
    g_allocator = new CachingCudaAllocator();
    register_allocator(Device::CUDA, g_allocator);
  }
} g_registrar;

}  // namespace

int create_pool() { return the_allocator().create_pool(); }
void release_pool(int pool) { the_allocator().release_pool(pool); }
size_t pool_bytes(int pool) { return the_allocator().pool_bytes(pool); }

PoolScope::PoolScope(int pool) : previous_(t_pool) { t_pool = pool; }
PoolScope::~PoolScope() { t_pool = previous_; }

}  // namespace shardlm::cuda
