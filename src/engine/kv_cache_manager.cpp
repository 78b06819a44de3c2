// KVCacheManager: block tables, prefix-cache hits and registration on top of BlockPool.
#include "engine/kv_cache_manager.h"

#include <algorithm>

#include "core/error.h"

namespace shardlm {

int64_t kv_slot_of(const Request& req, int token_index, int block_size) {
  const int block_index = token_index / block_size;
  SHARDLM_CHECK(token_index >= 0 && block_index < static_cast<int>(req.block_ids.size()), "request '",
                req.request_id, "' token ", token_index, " has no block");
  return static_cast<int64_t>(req.block_ids[block_index]) * block_size + token_index % block_size;
}

KVCacheManager::KVCacheManager(int num_blocks, int block_size, bool enable_prefix_caching)
    : block_size_(block_size), enable_prefix_caching_(enable_prefix_caching), pool_(num_blocks) {
  if (block_size <= 0) fail("KV cache: block_size must be > 0, got ", block_size);
}

void KVCacheManager::begin_step() { in_flight_.clear(); }

void KVCacheManager::ensure_block_hashes(Request& req, int num_full_blocks) {
  SHARDLM_CHECK(num_full_blocks * block_size_ <= req.num_tokens());
  std::vector<int32_t> tokens(static_cast<size_t>(block_size_));
  for (int j = static_cast<int>(req.block_hashes.size()); j < num_full_blocks; ++j) {
    for (int t = 0; t < block_size_; ++t) tokens[t] = req.token_at(j * block_size_ + t);
    const BlockHash& parent = j == 0 ? kRootBlockHash : req.block_hashes[j - 1];
    req.block_hashes.push_back(hash_block_tokens(parent, tokens.data(), block_size_));
  }
}

PrefixCacheHit KVCacheManager::find_cached_prefix(Request& req) {
  PrefixCacheHit hit;
  if (!enable_prefix_caching_ || req.skip_reading_prefix_cache || !req.block_ids.empty() ||
      req.num_computed_tokens != 0)
    return hit;
  const int max_blocks = (req.num_tokens() - 1) / block_size_;  // leave the last token to compute
  ensure_block_hashes(req, max_blocks);
  int j = 0;
  for (; j < max_blocks; ++j) {
    std::optional<int32_t> id = pool_.find_cached(req.block_hashes[j]);
    if (!id) break;
    hit.block_ids.push_back(*id);
  }
  hit.num_tokens = j * block_size_;
  hit.next_block_in_flight = j < max_blocks && in_flight_.count(req.block_hashes[j]) > 0;
  return hit;
}

bool KVCacheManager::allocate_slots(Request& req, int num_new_tokens, const PrefixCacheHit& hit) {
  SHARDLM_CHECK(num_new_tokens > 0);
  SHARDLM_CHECK(hit.block_ids.empty() || (req.block_ids.empty() && req.num_computed_tokens == 0));
  const int num_computed = req.num_computed_tokens + hit.num_tokens;
  const int num_covered = num_computed + num_new_tokens;
  SHARDLM_CHECK(num_covered <= req.num_tokens(), "request '", req.request_id, "' schedules past its tokens");
  const int num_held = static_cast<int>(req.block_ids.size() + hit.block_ids.size());
  const int num_new_blocks = std::max(0, blocks_for_tokens(num_covered) - num_held);
  // Hit blocks sitting in the free queue stop being free once touched.
  int num_free_hits = 0;
  for (int32_t id : hit.block_ids) num_free_hits += pool_.ref_count(id) == 0 ? 1 : 0;
  if (num_new_blocks > pool_.num_free_blocks() - num_free_hits) return false;

  pool_.touch(hit.block_ids);
  req.block_ids.insert(req.block_ids.end(), hit.block_ids.begin(), hit.block_ids.end());
  if (!hit.block_ids.empty()) req.num_registered_blocks = static_cast<int>(hit.block_ids.size());
  const std::vector<int32_t> fresh = pool_.allocate(num_new_blocks);
  req.block_ids.insert(req.block_ids.end(), fresh.begin(), fresh.end());

  if (enable_prefix_caching_) {
    // Full blocks this step completes: later requests in this step should wait for them, not recompute.
    const int first = num_computed / block_size_;
    const int last = num_covered / block_size_;
    ensure_block_hashes(req, last);
    for (int j = first; j < last; ++j) in_flight_.insert(req.block_hashes[j]);
  }
  return true;
}

void KVCacheManager::register_computed_blocks(Request& req) {
  if (!enable_prefix_caching_) return;
  const int num_full = req.num_computed_tokens / block_size_;
  SHARDLM_CHECK(num_full <= static_cast<int>(req.block_ids.size()));
  ensure_block_hashes(req, num_full);
  for (int j = req.num_registered_blocks; j < num_full; ++j) pool_.register_hash(req.block_ids[j], req.block_hashes[j]);
  req.num_registered_blocks = std::max(req.num_registered_blocks, num_full);
}

void KVCacheManager::free(Request& req) {
  std::vector<int32_t> reversed(req.block_ids.rbegin(), req.block_ids.rend());
  pool_.release(reversed);
  req.block_ids.clear();
  req.num_registered_blocks = 0;
}

bool KVCacheManager::reset_prefix_cache() {
  if (!pool_.reset_prefix_cache()) return false;
  in_flight_.clear();
  return true;
}

}  // namespace shardlm
