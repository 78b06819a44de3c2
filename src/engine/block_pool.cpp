// BlockPool: reference counts, the intrusive free queue and the hash -> block map.
#include "engine/block_pool.h"

#include "core/error.h"

namespace shardlm {

BlockPool::BlockPool(int num_blocks) : num_blocks_(num_blocks) {
  if (num_blocks <= 0) fail("KV cache: num_blocks must be > 0, got ", num_blocks);
  blocks_.resize(static_cast<size_t>(num_blocks));
  for (int32_t id = 0; id < num_blocks; ++id) push_tail(id);
}

void BlockPool::check_id(int32_t block_id, const char* what) const {
  SHARDLM_CHECK(block_id >= 0 && block_id < num_blocks_, what, ": block id ", block_id, " outside [0, ",
                num_blocks_, ")");
}

void BlockPool::unlink(int32_t id) {
  Block& b = blocks_[id];
  SHARDLM_CHECK(b.in_free_queue, "block ", id, " is not in the free queue");
  if (b.prev_free != kNone) blocks_[b.prev_free].next_free = b.next_free; else head_ = b.next_free;
  if (b.next_free != kNone) blocks_[b.next_free].prev_free = b.prev_free; else tail_ = b.prev_free;
  b.prev_free = b.next_free = kNone;
  b.in_free_queue = false;
  --num_free_;
}

void BlockPool::push_head(int32_t id) {
  Block& b = blocks_[id];
  b.prev_free = kNone;
  b.next_free = head_;
  if (head_ != kNone) blocks_[head_].prev_free = id; else tail_ = id;
  head_ = id;
  b.in_free_queue = true;
  ++num_free_;
}

void BlockPool::push_tail(int32_t id) {
  Block& b = blocks_[id];
  b.next_free = kNone;
  b.prev_free = tail_;
  if (tail_ != kNone) blocks_[tail_].next_free = id; else head_ = id;
  tail_ = id;
  b.in_free_queue = true;
  ++num_free_;
}

std::vector<int32_t> BlockPool::allocate(int n) {
  SHARDLM_CHECK(n >= 0 && n <= num_free_, "allocate ", n, " blocks with ", num_free_, " free");
  std::vector<int32_t> ids;
  ids.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const int32_t id = head_;
    unlink(id);
    Block& b = blocks_[id];
    if (b.has_hash) {  // evict: the block's old contents stop being findable
      cached_.erase(b.hash);
      b.has_hash = false;
    }
    b.ref_count = 1;
    ids.push_back(id);
  }
  return ids;
}

std::optional<int32_t> BlockPool::find_cached(const BlockHash& hash) const {
  auto it = cached_.find(hash);
  if (it == cached_.end()) return std::nullopt;
  return it->second;
}

void BlockPool::touch(const std::vector<int32_t>& block_ids) {
  for (int32_t id : block_ids) {
    check_id(id, "touch");
    Block& b = blocks_[id];
    if (b.ref_count == 0) unlink(id);
    ++b.ref_count;
  }
}

void BlockPool::release(const std::vector<int32_t>& block_ids) {
  for (int32_t id : block_ids) {
    check_id(id, "release");
    Block& b = blocks_[id];
    SHARDLM_CHECK(b.ref_count > 0, "release of free block ", id);
    if (--b.ref_count > 0) continue;
    if (b.has_hash) push_tail(id); else push_head(id);
  }
}

bool BlockPool::register_hash(int32_t block_id, const BlockHash& hash) {
  check_id(block_id, "register_hash");
  Block& b = blocks_[block_id];
  SHARDLM_CHECK(b.ref_count > 0, "register_hash on free block ", block_id);
  if (b.has_hash) {
    SHARDLM_CHECK(b.hash == hash, "block ", block_id, " re-registered under a different hash");
    return true;
  }
  if (!cached_.emplace(hash, block_id).second) return false;
  b.has_hash = true;
  b.hash = hash;
  return true;
}

bool BlockPool::reset_prefix_cache() {
  if (num_free_ != num_blocks_) return false;  // a block table still points into the cache
  for (Block& b : blocks_) b.has_hash = false;
  cached_.clear();
  return true;
}

int BlockPool::ref_count(int32_t block_id) const {
  check_id(block_id, "ref_count");
  return blocks_[block_id].ref_count;
}

std::optional<BlockHash> BlockPool::hash_of(int32_t block_id) const {
  check_id(block_id, "hash_of");
  const Block& b = blocks_[block_id];
  if (!b.has_hash) return std::nullopt;
  return b.hash;
}

std::vector<int32_t> BlockPool::free_queue() const {
  std::vector<int32_t> ids;
  for (int32_t id = head_; id != kNone; id = blocks_[id].next_free) {
    if (static_cast<int>(ids.size()) > num_blocks_) fail("block pool: free queue has a cycle");
    ids.push_back(id);
  }
  return ids;
}

void BlockPool::check_invariants() const {
  const std::vector<int32_t> queue = free_queue();
  if (static_cast<int>(queue.size()) != num_free_)
    fail("block pool: free queue holds ", queue.size(), " blocks but num_free is ", num_free_);
  int32_t prev = kNone;
  for (int32_t id : queue) {
    const Block& b = blocks_[id];
    if (!b.in_free_queue) fail("block pool: block ", id, " is queued but not marked free");
    if (b.prev_free != prev) fail("block pool: block ", id, " has a broken back link");
    prev = id;
  }
  if (tail_ != prev) fail("block pool: tail is ", tail_, " but the queue ends at ", prev);
  int num_hashed = 0;
  for (int32_t id = 0; id < num_blocks_; ++id) {
    const Block& b = blocks_[id];
    if (b.ref_count < 0) fail("block pool: block ", id, " has ref_count ", b.ref_count);
    if ((b.ref_count == 0) != b.in_free_queue)
      fail("block pool: block ", id, " has ref_count ", b.ref_count, " but in_free_queue=", b.in_free_queue);
    if (b.has_hash) {
      ++num_hashed;
      auto it = cached_.find(b.hash);
      if (it == cached_.end() || it->second != id)
        fail("block pool: block ", id, " carries a hash that does not map back to it");
    }
  }
  if (num_hashed != static_cast<int>(cached_.size()))
    fail("block pool: ", cached_.size(), " hash entries but ", num_hashed, " hashed blocks");
}

}  // namespace shardlm
