// BlockPool: the KV-cache blocks, their reference counts, the free queue (LRU eviction order) and the
// prefix-cache map from block hash to block id.
#pragma once
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "engine/prefix_hash.h"

namespace shardlm {

// Every block is in exactly one of two states:
//   referenced: ref_count > 0, held by that many block tables, not in the free queue;
//   free:       ref_count == 0, in the free queue. A free block may still carry a hash: it is a cached
//               block that a later request can take back (touch) until allocate() evicts it.
//
// Free queue, head = next to be handed out:
//   head -> [uncached free blocks, most recently freed first] [cached free blocks, least recently used first] <- tail
// release() puts uncached blocks at the head (reusing them costs nothing) and cached blocks at the tail,
// so allocation evicts cached blocks only when no uncached block is left, and then the least recently
// released first. Every decision here is a pure function of the calls made (no pointers, no hash-map
// iteration), so tensor-parallel ranks that make the same calls get the same block ids.
class BlockPool {
 public:
  explicit BlockPool(int num_blocks);  // throws Error unless num_blocks > 0

  int num_blocks() const { return num_blocks_; }
  int num_free_blocks() const { return num_free_; }  // includes evictable cached blocks
  int num_cached_blocks() const { return static_cast<int>(cached_.size()); }  // hashed, free or not
  double usage() const { return 1.0 - static_cast<double>(num_free_) / num_blocks_; }

  // Takes `n` blocks from the head of the free queue, evicting their hashes; each gets ref_count 1.
  // The caller checks num_free_blocks() first (internal error when n > num_free_blocks()).
  std::vector<int32_t> allocate(int n);
  // The block registered under `hash`, if any (free or referenced).
  std::optional<int32_t> find_cached(const BlockHash& hash) const;
  // Takes one more reference on each block (a prefix-cache hit); a free block leaves the free queue.
  void touch(const std::vector<int32_t>& block_ids);
  // Drops one reference on each block, in the order given; blocks reaching 0 enter the free queue.
  void release(const std::vector<int32_t>& block_ids);
  // Registers a full, computed, referenced block under `hash`. Returns false (and leaves the block
  // unhashed) when another block already holds that hash, e.g. two requests computed the same prefix
  // in the same step; the duplicate is then an ordinary block, freed straight to the head when released.
  bool register_hash(int32_t block_id, const BlockHash& hash);
  // Drops every block's hash (the prefix cache empties; the free-queue order stays). Returns false and
  // changes nothing while any block is referenced.
  bool reset_prefix_cache();

  int ref_count(int32_t block_id) const;
  std::optional<BlockHash> hash_of(int32_t block_id) const;
  // The free queue from head to tail (tests and invariant checks).
  std::vector<int32_t> free_queue() const;

  // Checks the pool's own consistency (queue links, counts, ref_count == 0 <=> queued, hash map <->
  // block hashes); throws Error naming the first violation.
  void check_invariants() const;

 private:
  static constexpr int32_t kNone = -1;
  struct Block {
    int ref_count = 0;
    bool has_hash = false;
    BlockHash hash;
    int32_t prev_free = kNone;  // free-queue links (block ids); meaningful only while ref_count == 0
    int32_t next_free = kNone;
    bool in_free_queue = false;
  };

  void check_id(int32_t block_id, const char* what) const;
  void unlink(int32_t id);
  void push_head(int32_t id);
  void push_tail(int32_t id);

  int num_blocks_;
  int num_free_ = 0;
  int32_t head_ = kNone;
  int32_t tail_ = kNone;
  std::vector<Block> blocks_;
  std::unordered_map<BlockHash, int32_t, BlockHashHasher> cached_;
};

}  // namespace shardlm
