// The sleep-mode memory arena on the CPU: 256-byte aligned bump allocation, commit growth, pop-if-last and
// waste accounting, Tensor::empty inside an ArenaScope, the allocator recognising arena addresses, and
// sleep/wake: Discard drops the resident pages (read back as zeros), Keep keeps them, addresses never move.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <vector>

#include "core/error.h"
#include "core/memory_arena.h"
#include "core/tensor.h"

using namespace shardlm;

namespace {

constexpr size_t kMiB = size_t(1) << 20;

std::shared_ptr<MemoryArena> cpu_arena(size_t reserve) { return allocator_for(Device::CPU)->create_arena("test", reserve); }

// Resident bytes of the process (/proc/self/statm).
size_t process_rss() {
  std::ifstream f("/proc/self/statm");
  size_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * (size_t)sysconf(_SC_PAGESIZE);
}

// Resident bytes of [p, p + bytes) (mincore; p page-aligned).
size_t resident_bytes(const void* p, size_t bytes) {
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  std::vector<unsigned char> vec((bytes + page - 1) / page);
  if (::mincore(const_cast<void*>(p), bytes, vec.data()) != 0) return 0;
  size_t n = 0;
  for (unsigned char v : vec) n += (v & 1) ? page : 0;
  return n;
}

}  // namespace

TEST(MemoryArena, BumpAllocatesAlignedAndCommitsAsItGrows) {
  auto arena = cpu_arena(64 * kMiB);
  ArenaStats s = arena->stats();
  EXPECT_EQ(s.reserved_bytes, 64 * kMiB);
  EXPECT_EQ(s.committed_bytes, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(arena->base()) % (2 * kMiB), 0u) << "huge-page aligned base";

  char* a = static_cast<char*>(arena->allocate(100));
  char* b = static_cast<char*>(arena->allocate(1));
  char* c = static_cast<char*>(arena->allocate(0));
  EXPECT_EQ(a, arena->base());
  EXPECT_EQ(b, a + 256);
  EXPECT_EQ(c, a + 512);
  s = arena->stats();
  EXPECT_EQ(s.used_bytes, 768u);
  EXPECT_EQ(s.committed_bytes, 2 * kMiB);
  EXPECT_EQ(s.num_live_blocks, 3u);

  char* big = static_cast<char*>(arena->allocate(5 * kMiB));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(big) % MemoryArena::kAlignment, 0u);
  std::memset(big, 0x5A, 5 * kMiB);  // committed memory is writable
  EXPECT_EQ(arena->stats().committed_bytes, 6 * kMiB);
  EXPECT_TRUE(arena->owns(big + 5 * kMiB - 1));
  EXPECT_FALSE(arena->owns(arena->base() + 64 * kMiB));

  EXPECT_THROW(arena->allocate(64 * kMiB), Error);  // beyond the reservation
  for (void* p : {(void*)a, (void*)b, (void*)c, (void*)big}) arena->deallocate(p);
}

TEST(MemoryArena, PopsTheLastBlockAndCountsOthersAsWaste) {
  auto arena = cpu_arena(8 * kMiB);
  void* a = arena->allocate(1000);  // 1024
  void* b = arena->allocate(256);
  void* c = arena->allocate(256);
  arena->deallocate(c);  // last: popped
  EXPECT_EQ(arena->stats().used_bytes, 1280u);
  EXPECT_EQ(arena->stats().wasted_bytes, 0u);
  void* c2 = arena->allocate(10);
  EXPECT_EQ(c2, c) << "a popped block's space is handed out again";
  arena->deallocate(b);  // not last: wasted
  EXPECT_EQ(arena->stats().wasted_bytes, 256u);
  EXPECT_EQ(arena->stats().used_bytes, 1536u);
  arena->deallocate(c2);  // pops itself and the wasted block below it
  EXPECT_EQ(arena->stats().used_bytes, 1024u);
  EXPECT_EQ(arena->stats().wasted_bytes, 0u);
  arena->deallocate(a);
  EXPECT_EQ(arena->stats().used_bytes, 0u);
  EXPECT_EQ(arena->allocate(1), arena->base()) << "an empty arena starts again at its base";
}

TEST(MemoryArena, TensorsAllocateInTheActiveScopeOnly) {
  auto arena = cpu_arena(16 * kMiB);
  Tensor outside = Tensor::empty({16}, DType::F32);
  EXPECT_FALSE(arena->owns(outside.raw()));
  {
    ArenaScope scope(arena);
    EXPECT_EQ(active_arena(), arena.get());
    Tensor t = Tensor::zeros({1000}, DType::F32);
    EXPECT_TRUE(arena->owns(t.raw()));
    EXPECT_EQ(t.data<float>()[999], 0.0f);
    Tensor copy = t.clone();
    EXPECT_TRUE(arena->owns(copy.raw()));
    {
      ArenaScope suspended(nullptr);
      Tensor temp = Tensor::empty({1000}, DType::F32);
      EXPECT_FALSE(arena->owns(temp.raw()));
    }
    EXPECT_EQ(active_arena(), arena.get());
    EXPECT_EQ(arena->stats().num_live_blocks, 2u);
  }
  EXPECT_EQ(active_arena(), nullptr);
  EXPECT_EQ(arena->stats().num_live_blocks, 0u) << "freed tensors return to the arena";
  EXPECT_EQ(arena->stats().used_bytes, 0u);

  // The allocator hands arena addresses back to their arena rather than to free().
  void* p = arena->allocate(64);
  EXPECT_EQ(find_arena(p), arena.get());
  allocator_for(Device::CPU)->deallocate(p);
  EXPECT_EQ(arena->stats().num_live_blocks, 0u);
  EXPECT_EQ(find_arena(outside.raw()), nullptr);
}

TEST(MemoryArena, TensorsKeepTheirArenaAlive) {
  Tensor t;
  {
    auto arena = cpu_arena(4 * kMiB);
    ArenaScope scope(arena);
    t = Tensor::empty({256}, DType::F32);
  }
  ASSERT_NE(find_arena(t.raw()), nullptr);
  t.data<float>()[255] = 1.0f;
  const void* raw = t.raw();
  t = Tensor();  // the last reference: the arena goes with it
  EXPECT_EQ(find_arena(raw), nullptr);
}

TEST(MemoryArena, DiscardReleasesResidentMemoryAndReadsZero) {
  const size_t bytes = 32 * kMiB;
  auto arena = cpu_arena(64 * kMiB);
  char* p = static_cast<char*>(arena->allocate(bytes));
  std::memset(p, 0xAB, bytes);
  EXPECT_GE(resident_bytes(arena->base(), bytes), bytes);
  const size_t rss_awake = process_rss();

  arena->sleep(SleepContents::Discard);
  EXPECT_TRUE(arena->sleeping());
  EXPECT_EQ(resident_bytes(arena->base(), bytes), 0u);
  const size_t rss_asleep = process_rss();
  EXPECT_GE(rss_awake - rss_asleep, bytes * 9 / 10) << "awake " << rss_awake << " asleep " << rss_asleep;
  EXPECT_THROW(arena->allocate(16), Error);
  arena->sleep(SleepContents::Keep);  // asleep already: nothing happens

  arena->wake();
  EXPECT_FALSE(arena->sleeping());
  arena->wake();  // awake already: nothing happens
  EXPECT_EQ(p[0], 0);
  EXPECT_EQ(p[bytes - 1], 0);
  p[12345] = 7;  // writable again, same address
  EXPECT_EQ(arena->stats().used_bytes, bytes);
  void* q = arena->allocate(16);
  EXPECT_EQ(static_cast<char*>(q), p + bytes);
  arena->deallocate(q);
  arena->deallocate(p);
}

TEST(MemoryArena, KeepLeavesHostContentsInPlace) {
  const size_t bytes = 4 * kMiB;
  auto arena = cpu_arena(8 * kMiB);
  unsigned char* p = static_cast<unsigned char*>(arena->allocate(bytes));
  for (size_t i = 0; i < bytes; ++i) p[i] = (unsigned char)(i * 31 + 7);
  arena->sleep(SleepContents::Keep);
  EXPECT_GE(resident_bytes(arena->base(), bytes), bytes) << "host memory is kept as it is";
  arena->wake();
  bool same = true;
  for (size_t i = 0; i < bytes; ++i) same = same && p[i] == (unsigned char)(i * 31 + 7);
  EXPECT_TRUE(same);
  arena->deallocate(p);
}
