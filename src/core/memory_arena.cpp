// MemoryArena: bump allocation inside a reserved range, commit as it grows, sleep/wake bookkeeping; the
// thread's active arena (ArenaScope) and the registry of live arenas.
#include "core/memory_arena.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "core/error.h"

namespace shardlm {

namespace {

size_t round_up(size_t x, size_t unit) { return (x + unit - 1) / unit * unit; }

thread_local MemoryArena* t_arena = nullptr;

std::mutex g_registry_mutex;
std::vector<MemoryArena*> g_registry;  // live arenas with a reservation
std::atomic<int> g_num_arenas{0};

}  // namespace

MemoryArena::MemoryArena(std::string tag, Device device) : tag_(std::move(tag)), device_(device) {}

MemoryArena::~MemoryArena() {
  if (!base_) return;
  std::lock_guard<std::mutex> lock(g_registry_mutex);
  g_registry.erase(std::remove(g_registry.begin(), g_registry.end(), this), g_registry.end());
  g_num_arenas.store((int)g_registry.size(), std::memory_order_release);
}

void MemoryArena::set_reservation(char* base, size_t reserved, size_t commit_granularity) {
  SHARDLM_CHECK(base_ == nullptr && base != nullptr && commit_granularity > 0 && reserved % commit_granularity == 0);
  base_ = base;
  reserved_ = reserved;
  granularity_ = commit_granularity;
  std::lock_guard<std::mutex> lock(g_registry_mutex);
  g_registry.push_back(this);
  g_num_arenas.store((int)g_registry.size(), std::memory_order_release);
}

void* MemoryArena::allocate(size_t bytes) {
  const size_t size = round_up(std::max<size_t>(bytes, 1), kAlignment);
  std::lock_guard<std::mutex> lock(mutex_);
  if (sleeping_) fail("the '", tag_, "' memory arena is asleep: call wake_up() before allocating in it");
  const size_t offset = top_;
  if (size > reserved_ - offset)
    fail("the '", tag_, "' sleep-mode memory arena on ", device_name(device_), " is full: ", bytes,
         " more bytes requested, ", reserved_ - offset, " of ", reserved_, " reserved bytes left");
  if (offset + size > committed_) {
    const size_t new_committed = std::min(reserved_, round_up(offset + size, granularity_));
    commit(committed_, new_committed);
    committed_ = new_committed;
  }
  live_.emplace(offset, size);
  top_ = offset + size;
  live_bytes_ += size;
  return base_ + offset;
}

void MemoryArena::deallocate(void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mutex_);
  SHARDLM_CHECK(owns(p), "pointer outside the '", tag_, "' arena");
  auto it = live_.find((size_t)(static_cast<char*>(p) - base_));
  SHARDLM_CHECK(it != live_.end(), "free of an address the '", tag_, "' arena did not hand out");
  const size_t end = it->first + it->second;
  live_bytes_ -= it->second;
  live_.erase(it);
  // The last block pops, and with it every freed block right below it; others stay as waste.
  if (end == top_) top_ = live_.empty() ? 0 : live_.rbegin()->first + live_.rbegin()->second;
}

void MemoryArena::sleep(SleepContents contents) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (sleeping_) return;
  const bool keep = contents == SleepContents::Keep;
  release(top_, committed_, keep);
  sleeping_ = true;
  kept_ = keep;
}

void MemoryArena::wake() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!sleeping_) return;
  restore(top_, committed_, kept_);
  sleeping_ = false;
}

bool MemoryArena::sleeping() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return sleeping_;
}

ArenaStats MemoryArena::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  ArenaStats s;
  s.reserved_bytes = reserved_;
  s.committed_bytes = committed_;
  s.used_bytes = top_;
  s.live_bytes = live_bytes_;
  s.wasted_bytes = top_ - live_bytes_;
  s.num_live_blocks = live_.size();
  s.sleeping = sleeping_;
  return s;
}

ArenaScope::ArenaScope(std::shared_ptr<MemoryArena> arena) : arena_(std::move(arena)), previous_(t_arena) {
  t_arena = arena_.get();
}

ArenaScope::~ArenaScope() { t_arena = previous_; }

MemoryArena* active_arena() { return t_arena; }

MemoryArena* find_arena(const void* p) {
  if (g_num_arenas.load(std::memory_order_acquire) == 0) return nullptr;
  std::lock_guard<std::mutex> lock(g_registry_mutex);
  for (MemoryArena* a : g_registry)
    if (a->owns(p)) return a;
  return nullptr;
}

}  // namespace shardlm
