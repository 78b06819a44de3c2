// Sleepable memory arenas (sleep mode; vLLM's CuMemAllocator idea): one per tag ("weights", "kv_cache") and
// engine. An arena reserves one large range of addresses up front and bump-allocates inside it, backing the
// used part with physical memory as it grows. sleep() hands the physical memory back (keeping a host copy of
// the contents, or discarding them) and wake() puts physical memory back behind the very same addresses, so
// CUDA graphs captured before and views handed to other libraries stay valid across a sleep.
//
//   base                                   top                 committed                      reserved
//   | block | pad | block | (freed) | block |   (unused, backed)  |   (address space only)       |
//
// Allocation: 256-byte aligned, at `top`. Freeing the last block pops it (and any freed blocks below it);
// freeing any other block only counts its bytes as wasted until the blocks above it go. An empty arena
// starts again at base. Backends (CPU: mmap/mprotect/madvise in core/cpu_arena.cpp; CUDA: the driver's
// virtual memory API in ops/cuda/cuda_arena.cpp) supply reservation, commit, sleep and wake.
#pragma once
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/tensor.h"

namespace shardlm {

struct ArenaStats {
  size_t reserved_bytes = 0;   // address space
  size_t committed_bytes = 0;  // physical memory behind it while awake
  size_t used_bytes = 0;       // the bump pointer's offset
  size_t live_bytes = 0;       // held by live blocks (rounded to the alignment)
  size_t wasted_bytes = 0;     // below the bump pointer but not live (freed blocks that could not be popped)
  size_t num_live_blocks = 0;
  bool sleeping = false;
};

enum class SleepContents { Keep, Discard };

class MemoryArena : public std::enable_shared_from_this<MemoryArena> {
 public:
  static constexpr size_t kAlignment = 256;

  virtual ~MemoryArena();
  MemoryArena(const MemoryArena&) = delete;
  MemoryArena& operator=(const MemoryArena&) = delete;

  const std::string& tag() const { return tag_; }
  Device device() const { return device_; }
  char* base() const { return base_; }

  // Error when the reservation is exhausted or the arena is asleep.
  void* allocate(size_t bytes);
  void deallocate(void* p);  // p must come from allocate()
  bool owns(const void* p) const {
    return p >= base_ && static_cast<const char*>(p) < base_ + reserved_;
  }

  // Hands the physical memory back. Keep: the contents come back on wake (on the CPU the memory simply stays);
  // Discard: they read as zero after wake. No-op while asleep.
  void sleep(SleepContents contents);
  void wake();  // no-op while awake
  bool sleeping() const;
  ArenaStats stats() const;

 protected:
  MemoryArena(std::string tag, Device device);
  // Backends call this once from their constructor with the reserved range.
  void set_reservation(char* base, size_t reserved, size_t commit_granularity);

  // Make [committed, new_committed) usable (a multiple of the granularity each side).
  virtual void commit(size_t committed, size_t new_committed) = 0;
  // Release the physical memory of [0, committed), first saving [0, used) when keep.
  virtual void release(size_t used, size_t committed, bool keep) = 0;
  // Back [0, committed) again; restore [0, used) when it was kept, else zero it.
  virtual void restore(size_t used, size_t committed, bool kept) = 0;

 private:
  const std::string tag_;
  const Device device_;
  char* base_ = nullptr;
  size_t reserved_ = 0, granularity_ = 1;
  mutable std::mutex mutex_;
  std::map<size_t, size_t> live_;  // offset -> rounded size of live blocks
  size_t top_ = 0, committed_ = 0, live_bytes_ = 0;
  bool sleeping_ = false, kept_ = false;
};

// While a scope is alive, Tensor::empty/zeros on the arena's device allocate in it (on the calling thread);
// a null arena suspends an enclosing scope (for temporaries and non-parameter state made while loading).
// Scopes nest.
class ArenaScope {
 public:
  explicit ArenaScope(std::shared_ptr<MemoryArena> arena);
  ~ArenaScope();
  ArenaScope(const ArenaScope&) = delete;
  ArenaScope& operator=(const ArenaScope&) = delete;

 private:
  std::shared_ptr<MemoryArena> arena_;
  MemoryArena* previous_;
};

// The calling thread's active arena, or null.
MemoryArena* active_arena();

// The live arena whose reservation holds `p`, or null (allocators use it to keep arena addresses away from
// free()/cudaFree). Cheap while no arena exists.
MemoryArena* find_arena(const void* p);

}  // namespace shardlm
