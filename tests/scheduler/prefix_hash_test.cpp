// Block hashes: deterministic, sensitive to every token, to order and to the parent chain, and free of
// collisions over many random blocks (each 64-bit lane alone).
#include <gtest/gtest.h>

#include <random>
#include <unordered_set>
#include <vector>

#include "engine/prefix_hash.h"

using namespace shardlm;

namespace {
BlockHash hash_of(const BlockHash& parent, const std::vector<int32_t>& tokens) {
  return hash_block_tokens(parent, tokens.data(), static_cast<int>(tokens.size()));
}
}  // namespace

TEST(PrefixHash, SameInputSameHash) {
  const std::vector<int32_t> block = {1, 2, 3, 4};
  EXPECT_EQ(hash_of(kRootBlockHash, block), hash_of(kRootBlockHash, block));
}

TEST(PrefixHash, EveryTokenPositionChangesBothLanes) {
  const std::vector<int32_t> base = {5, 9, 0, 17, 300, 2, 2, 7, 11, 13, 64000, 1, 0, 0, 3, 8};
  const BlockHash h0 = hash_of(kRootBlockHash, base);
  for (size_t i = 0; i < base.size(); ++i) {
    for (int32_t delta : {1, -1, 1 << 20}) {
      std::vector<int32_t> changed = base;
      changed[i] += delta;
      const BlockHash h = hash_of(kRootBlockHash, changed);
      EXPECT_NE(h.lane_a, h0.lane_a) << "position " << i;
      EXPECT_NE(h.lane_b, h0.lane_b) << "position " << i;
    }
  }
}

TEST(PrefixHash, OrderAndParentMatter) {
  const BlockHash ab = hash_of(kRootBlockHash, {1, 2});
  const BlockHash ba = hash_of(kRootBlockHash, {2, 1});
  EXPECT_NE(ab, ba);
  // Same block tokens under different parents: a block is identified by its whole prefix.
  const BlockHash p1 = hash_of(kRootBlockHash, {7, 7});
  const BlockHash p2 = hash_of(kRootBlockHash, {7, 8});
  EXPECT_NE(hash_of(p1, {1, 2}), hash_of(p2, {1, 2}));
  EXPECT_NE(hash_of(kRootBlockHash, {1, 2}), hash_of(p1, {1, 2}));
  // Length is hashed too: {0} and {0, 0} differ.
  EXPECT_NE(hash_of(kRootBlockHash, {0}), hash_of(kRootBlockHash, {0, 0}));
}

TEST(PrefixHash, NoLaneCollisionsOverManyRandomBlocks) {
  std::mt19937_64 rng(1234);
  std::uniform_int_distribution<int32_t> token(0, 7);  // tiny vocabulary: many near-identical blocks
  std::unordered_set<uint64_t> lane_a, lane_b;
  BlockHash parent = kRootBlockHash;
  const int kBlocks = 200000;
  std::vector<int32_t> block(16);
  for (int i = 0; i < kBlocks; ++i) {
    for (int32_t& t : block) t = token(rng);
    const BlockHash h = hash_of(i % 2 ? parent : kRootBlockHash, block);
    lane_a.insert(h.lane_a);
    lane_b.insert(h.lane_b);
    parent = h;
  }
  // 2e5 random 64-bit values collide with probability ~1e-9.
  EXPECT_EQ(lane_a.size(), static_cast<size_t>(kBlocks));
  EXPECT_EQ(lane_b.size(), static_cast<size_t>(kBlocks));
}
