// KVCacheManager: per-request block tables on top of the BlockPool -- prefix-cache look-up, slot
// allocation for a step, registration of computed full blocks, and release.
#pragma once
#include <cstdint>
#include <unordered_set>
#include <vector>

#include "engine/block_pool.h"
#include "engine/request.h"

namespace shardlm {

// Slot of token `token_index` of `req` in the flat KV cache [num_blocks * block_size] (see request.h).
int64_t kv_slot_of(const Request& req, int token_index, int block_size);

// The longest run of a request's leading full blocks found in the prefix cache. Never covers the
// request's last token (its logits must be computed), so a prompt of exactly k full blocks can hit at
// most k - 1 of them: the last block is recomputed.
struct PrefixCacheHit {
  std::vector<int32_t> block_ids;
  int num_tokens = 0;  // block_ids.size() * block_size
  // The first block after the hit is being computed in the current step by a request scheduled
  // earlier in it, and will be in the cache after the step: waiting one step saves recomputing it.
  bool next_block_in_flight = false;
};

class KVCacheManager {
 public:
  KVCacheManager(int num_blocks, int block_size, bool enable_prefix_caching);

  int block_size() const { return block_size_; }
  bool prefix_caching() const { return enable_prefix_caching_; }
  const BlockPool& pool() const { return pool_; }
  int blocks_for_tokens(int num_tokens) const { return (num_tokens + block_size_ - 1) / block_size_; }

  // Starts a scheduling step: forgets which blocks the previous step was computing.
  void begin_step();
  // Look-up only; takes no references. Empty when prefix caching is off or `req` already has blocks.
  PrefixCacheHit find_cached_prefix(Request& req);
  // Extends req's block table so it covers num_computed_tokens + hit.num_tokens + num_new_tokens tokens:
  // takes references on the hit blocks (appended first), then allocates fresh blocks. Returns false and
  // changes nothing when the free queue (less the hit blocks it would consume) is too short.
  bool allocate_slots(Request& req, int num_new_tokens, const PrefixCacheHit& hit = {});
  // Registers req's full blocks whose tokens are all computed (after a step).
  void register_computed_blocks(Request& req);
  // Releases req's block table (last block first, so a request's prefix outlives its tail in the LRU).
  void free(Request& req);
  // Empties the prefix cache (BlockPool::reset_prefix_cache); false, changing nothing, while blocks are held.
  bool reset_prefix_cache();

 private:
  void ensure_block_hashes(Request& req, int num_full_blocks);

  int block_size_;
  bool enable_prefix_caching_;
  BlockPool pool_;
  // Hashes of full blocks being computed in the current step (look-ups only).
  std::unordered_set<BlockHash, BlockHashHasher> in_flight_;
};

}  // namespace shardlm
