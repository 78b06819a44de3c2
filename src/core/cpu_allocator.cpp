// CPU allocator. Small blocks come from aligned_alloc. Large blocks (>= 4 MiB: weights, the KV cache, prefill
// activations) are 2 MiB-aligned and advised onto transparent huge pages: decode streams every weight once per
// token, and with 4 KiB pages that is a TLB miss per 4 KiB. Freed large blocks are kept in a size-keyed cache
// and reused, as the CUDA allocator does, so prefill activations do not depend on glibc's mmap threshold to
// avoid faulting fresh, zeroed pages in every step (a 512-token llama-125m prefill: ~700 page faults without
// the cache, ~210 with it).
// Builds with AddressSanitizer skip the cache, so a use after free is still caught.
#include "core/cpu_allocator.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>

#include "core/cpu_arena.h"
#include "core/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define SHARDLM_CPU_BLOCK_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SHARDLM_CPU_BLOCK_CACHE 0
#endif
#endif
#ifndef SHARDLM_CPU_BLOCK_CACHE
#define SHARDLM_CPU_BLOCK_CACHE 1
#endif

namespace shardlm {

namespace {

constexpr size_t kHugePage = size_t(2) << 20;
constexpr size_t kLargeThreshold = size_t(4) << 20;
constexpr size_t kMaxCachedBytes = size_t(2) << 30;  // beyond this, freed large blocks go back to the system

class CpuAllocator final : public DeviceAllocator {
 public:
  void* allocate(size_t bytes) override {
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded < kLargeThreshold) {
      void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
      if (!p) fail("out of host memory allocating ", bytes, " bytes");
      return p;
    }
    rounded = (rounded + kHugePage - 1) / kHugePage * kHugePage;
    std::lock_guard<std::mutex> lock(mutex_);
    if (SHARDLM_CPU_BLOCK_CACHE) {
      auto it = free_.lower_bound(rounded);  // best fit, at most twice the size asked for
      if (it != free_.end() && it->first <= 2 * rounded) {
        void* p = it->second;
        cached_bytes_ -= it->first;
        large_[p] = it->first;
        free_.erase(it);
        return p;
      }
    }
    void* p = std::aligned_alloc(kHugePage, rounded);
    if (!p) {
      release_cached_locked();
      p = std::aligned_alloc(kHugePage, rounded);
    }
    if (!p) fail("out of host memory allocating ", bytes, " bytes");
#ifdef MADV_HUGEPAGE
    (void)::madvise(p, rounded, MADV_HUGEPAGE);  // advice only: ignored where THP is off
#endif
    large_[p] = rounded;
    return p;
  }

  void deallocate(void* p) override {
    if (!p) return;
    if (MemoryArena* arena = find_arena(p)) {  // sleep mode: never free() an arena address
      arena->deallocate(p);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = large_.find(p);
      if (it != large_.end()) {
        const size_t size = it->second;
        large_.erase(it);
        if (SHARDLM_CPU_BLOCK_CACHE && cached_bytes_ + size <= kMaxCachedBytes) {
          free_.emplace(size, p);
          cached_bytes_ += size;
          return;
        }
      }
    }
    std::free(p);
  }

  void copy(void* dst, Device, const void* src, Device, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void memset_zero(void* p, size_t bytes) override {
    if (bytes) std::memset(p, 0, bytes);
  }
  void release_cached() override {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cached_locked();
  }
  std::shared_ptr<MemoryArena> create_arena(const std::string& tag, size_t reserve_bytes) override {
    return make_cpu_arena(tag, reserve_bytes);
  }

 private:
  void release_cached_locked() {
    for (auto& [size, p] : free_) std::free(p);
    free_.clear();
    cached_bytes_ = 0;
  }

  std::mutex mutex_;
  std::unordered_map<void*, size_t> large_;  // live large blocks -> rounded size
  std::multimap<size_t, void*> free_;        // cached large blocks by size
  size_t cached_bytes_ = 0;
};

}  // namespace

DeviceAllocator* cpu_allocator() {
  static auto* allocator = new CpuAllocator();  // leaked on purpose (see the header)
  return allocator;
}

}  // namespace shardlm
