// The CPU memory arena: a PROT_NONE, MAP_NORESERVE reservation made read-write in 2 MiB chunks as the arena
// grows (no commit charge for the rest), advised onto transparent huge pages like the allocator's large
// blocks. Sleeping with Keep does nothing (the contents are host memory already); Discard drops the pages
// (MADV_DONTNEED: resident memory falls, and the range reads as zero once touched again).
#include "core/cpu_arena.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "core/error.h"

namespace shardlm {

namespace {

constexpr size_t kChunk = size_t(2) << 20;  // commit unit, and the huge-page size

class CpuArena final : public MemoryArena {
 public:
  CpuArena(const std::string& tag, size_t reserve_bytes) : MemoryArena(tag, Device::CPU) {
    const size_t reserved = (std::max<size_t>(reserve_bytes, 1) + kChunk - 1) / kChunk * kChunk;
    // One extra chunk so the base can sit on a huge-page boundary.
    const size_t mapped = reserved + kChunk;
    void* p = ::mmap(nullptr, mapped, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
      fail("sleep mode: cannot reserve ", reserved >> 20, " MiB of address space for the '", tag,
           "' arena: ", std::strerror(errno));
    char* start = static_cast<char*>(p);
    char* base = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(start) + kChunk - 1) / kChunk * kChunk);
    if (base > start) ::munmap(start, (size_t)(base - start));
    char* end = start + mapped;
    if (end > base + reserved) ::munmap(base + reserved, (size_t)(end - (base + reserved)));
    mapping_ = base;
    mapping_bytes_ = reserved;
    set_reservation(base, reserved, kChunk);
  }

  ~CpuArena() override {
    if (mapping_) ::munmap(mapping_, mapping_bytes_);
  }

 protected:
  void commit(size_t committed, size_t new_committed) override {
    char* p = base() + committed;
    const size_t n = new_committed - committed;
    if (::mprotect(p, n, PROT_READ | PROT_WRITE) != 0)
      fail("sleep mode: cannot commit ", n >> 20, " MiB in the '", tag(), "' arena: ", std::strerror(errno));
#ifdef MADV_HUGEPAGE
    (void)::madvise(p, n, MADV_HUGEPAGE);  // advice only: ignored where THP is off
#endif
  }

  void release(size_t, size_t committed, bool keep) override {
    if (keep || committed == 0) return;
    if (::madvise(base(), committed, MADV_DONTNEED) != 0)
      fail("sleep mode: cannot discard the '", tag(), "' arena: ", std::strerror(errno));
  }

  void restore(size_t, size_t, bool) override {}  // discarded pages fault back in as zeros

 private:
  char* mapping_ = nullptr;
  size_t mapping_bytes_ = 0;
};

}  // namespace

std::shared_ptr<MemoryArena> make_cpu_arena(const std::string& tag, size_t reserve_bytes) {
  return std::make_shared<CpuArena>(tag, reserve_bytes);
}

}  // namespace shardlm
