// Block hashing for the prefix cache (see prefix_hash.h for the collision argument).
#include "engine/prefix_hash.h"

namespace shardlm {
namespace {

// MurmurHash3 fmix64: a bijection on 64-bit values with full avalanche.
uint64_t mix_murmur(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Stafford's mix13 (the SplitMix64 finaliser): another bijection with different constants and shifts.
uint64_t mix_stafford(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

BlockHash hash_block_tokens(const BlockHash& parent, const int32_t* token_ids, int num_tokens) {
  // Per-lane additive constants keep the lanes from degenerating to the same function of the input.
  constexpr uint64_t kStepA = 0x9e3779b97f4a7c15ULL;
  constexpr uint64_t kStepB = 0xd1b54a32d192ed03ULL;
  uint64_t a = mix_murmur(parent.lane_a + kStepA) ^ parent.lane_b;
  uint64_t b = mix_stafford(parent.lane_b + kStepB) ^ parent.lane_a;
  for (int i = 0; i < num_tokens; ++i) {
    const uint64_t token = static_cast<uint32_t>(token_ids[i]);
    a = mix_murmur((a ^ token) + kStepA);
    b = mix_stafford((b ^ token) + kStepB);
  }
  a = mix_murmur(a ^ static_cast<uint64_t>(num_tokens));
  b = mix_stafford(b ^ static_cast<uint64_t>(num_tokens));
  return BlockHash{a, b};
}

}  // namespace shardlm
