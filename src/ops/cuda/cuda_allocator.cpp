// The CUDA DeviceAllocator: cudaMalloc behind a size-keyed cache, so the many per-step activation tensors
// reuse freed blocks instead of paying cudaMalloc/cudaFree (which synchronise the device) every step.
// Blocks are reused in stream order: every op runs on the one stream, so work queued on a freed block
// completes before work queued by its next owner. Registered at static init only when a GPU is visible.
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>

#include "core/tensor.h"
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

class CachingCudaAllocator final : public DeviceAllocator {
 public:
  void* allocate(size_t bytes) override {
    ensure_device();
    const size_t size = round_size(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    // Best fit among cached blocks, but never more than twice the request (keeps waste bounded).
    auto it = free_.lower_bound(size);
    if (it != free_.end() && it->first <= 2 * size) {
      void* p = it->second;
      live_[p] = it->first;
      cached_bytes_ -= it->first;
      free_.erase(it);
      return p;
    }
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, size);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      release_cached_locked();
      err = cudaMalloc(&p, size);
    }
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      (void)cudaMemGetInfo(&free_b, &total_b);
      (void)cudaGetLastError();
      fail("out of GPU memory allocating ", bytes, " bytes on device ", device_index(), " (", free_b >> 20,
           " MiB free of ", total_b >> 20, " MiB; ", live_bytes_ >> 20,
           " MiB held by tensors): lower the KV-cache memory budget or the batch size");
    }
    live_[p] = size;
    live_bytes_ += size;
    return p;
  }

  void deallocate(void* p) override {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(p);
    if (it == live_.end()) return;  // not ours; never happens for tensors made by allocate()
    free_.emplace(it->second, p);
    cached_bytes_ += it->second;
    live_bytes_ -= it->second;
    live_.erase(it);
  }

  void copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) override {
    if (bytes == 0) return;
    cudaMemcpyKind kind = cudaMemcpyDefault;
    if (src_dev == Device::CPU && dst_dev == Device::CUDA) kind = cudaMemcpyHostToDevice;
    else if (src_dev == Device::CUDA && dst_dev == Device::CPU) kind = cudaMemcpyDeviceToHost;
    else if (src_dev == Device::CUDA && dst_dev == Device::CUDA) kind = cudaMemcpyDeviceToDevice;
    else kind = cudaMemcpyHostToHost;
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

  void release_cached() override {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cached_locked();
  }

 private:
  void release_cached_locked() {
    // cudaFree synchronises the device, so no queued work still uses these blocks.
    for (auto& [size, p] : free_) (void)cudaFree(p);
    free_.clear();
    cached_bytes_ = 0;
  }

  std::mutex mutex_;
  std::multimap<size_t, void*> free_;      // cached blocks by rounded size
  std::unordered_map<void*, size_t> live_;  // blocks held by tensors -> rounded size
  size_t live_bytes_ = 0, cached_bytes_ = 0;
};

struct Registrar {
  Registrar() {
    if (!gpu_present()) return;
    // Leaked on purpose: tensors may be freed during static destruction, after a static allocator would die.
    static auto* allocator = new CachingCudaAllocator();
    register_allocator(Device::CUDA, allocator);
  }
} g_registrar;

}  // namespace

}  // namespace shardlm::cuda
