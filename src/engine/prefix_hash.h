// Prefix-cache keys: the 128-bit hash of one full KV block, chained through its parent block's hash,
// so equal hashes mean "same tokens in this block AND the same tokens in every block before it".
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace shardlm {

// Two 64-bit lanes computed by two different bijective mixers (MurmurHash3's fmix64 and Stafford's
// "mix13", the SplitMix64 finaliser) over the same input. Each lane alone chains bijections, so two
// blocks of equal length that differ in exactly one token never collide in either lane; for arbitrary
// inputs a collision needs both lanes to collide at once, about N^2 / 2^129 for N distinct blocks
// (1e12 blocks: ~1e-15). The hash is NOT cryptographic: someone choosing token ids on purpose could
// search for a collision and so read KV computed for another prompt. Single-tenant offline inference
// does not face that; a multi-tenant server would want a keyed or cryptographic hash here.
struct BlockHash {
  uint64_t lane_a = 0;
  uint64_t lane_b = 0;
  bool operator==(const BlockHash&) const = default;
};

// For unordered containers keyed by BlockHash (look-ups only; nothing may iterate them to decide).
struct BlockHashHasher {
  size_t operator()(const BlockHash& h) const { return static_cast<size_t>(h.lane_a ^ (h.lane_b << 1)); }
};

// The parent of a request's first block.
inline constexpr BlockHash kRootBlockHash{0x5368617264484d31ULL, 0x526f6f74426c6b31ULL};

// Hash of one full block: `token_ids` are the block's `num_tokens` (= block_size) token ids.
BlockHash hash_block_tokens(const BlockHash& parent, const int32_t* token_ids, int num_tokens);

}  // namespace shardlm
