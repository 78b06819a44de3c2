// BlockPool: allocation order, reference counts, free-queue policy (uncached to the head, cached to the
// tail in LRU order), eviction dropping hashes, and hash look-up. Expected ids are worked out by hand
// from the free-queue rules in block_pool.h.
#include <gtest/gtest.h>

#include "core/error.h"
#include "engine/block_pool.h"

using namespace shardlm;

namespace {
BlockHash h(int32_t x) { return hash_block_tokens(kRootBlockHash, &x, 1); }
using Ids = std::vector<int32_t>;
}  // namespace

TEST(BlockPool, RejectsEmptyPool) {
  EXPECT_THROW(BlockPool(0), Error);
  EXPECT_THROW(BlockPool(-3), Error);
}

TEST(BlockPool, AllocatesFromHeadAndCountsReferences) {
  BlockPool pool(4);
  EXPECT_EQ(pool.num_free_blocks(), 4);
  EXPECT_EQ(pool.allocate(2), (Ids{0, 1}));
  EXPECT_EQ(pool.num_free_blocks(), 2);
  EXPECT_EQ(pool.ref_count(0), 1);
  EXPECT_EQ(pool.ref_count(2), 0);
  EXPECT_DOUBLE_EQ(pool.usage(), 0.5);
  EXPECT_EQ(pool.free_queue(), (Ids{2, 3}));
  pool.check_invariants();
  EXPECT_EQ(pool.allocate(0), Ids{});
  EXPECT_THROW(pool.allocate(3), Error);  // more than free: internal check, not a crash
}

TEST(BlockPool, UncachedBlocksReturnToHead) {
  BlockPool pool(4);
  EXPECT_EQ(pool.allocate(3), (Ids{0, 1, 2}));
  pool.release({1});
  EXPECT_EQ(pool.free_queue(), (Ids{1, 3}));
  EXPECT_EQ(pool.allocate(1), (Ids{1}));
  pool.check_invariants();
}

TEST(BlockPool, CachedBlocksGoToTailAndAreEvictedLeastRecentlyUsedFirst) {
  BlockPool pool(5);
  EXPECT_EQ(pool.allocate(5), (Ids{0, 1, 2, 3, 4}));
  EXPECT_TRUE(pool.register_hash(0, h(100)));
  EXPECT_TRUE(pool.register_hash(1, h(101)));
  EXPECT_TRUE(pool.register_hash(2, h(102)));
  pool.release({2});  // cached -> tail
  pool.release({0});  // cached -> tail
  pool.release({3});  // uncached -> head
  pool.release({1});  // cached -> tail
  EXPECT_EQ(pool.free_queue(), (Ids{3, 2, 0, 1}));
  EXPECT_EQ(pool.num_cached_blocks(), 3);
  pool.check_invariants();

  EXPECT_EQ(pool.allocate(1), (Ids{3}));  // uncached first: nothing evicted
  EXPECT_EQ(pool.num_cached_blocks(), 3);
  EXPECT_EQ(pool.allocate(1), (Ids{2}));  // least recently released cached block: evicted
  EXPECT_FALSE(pool.find_cached(h(102)).has_value());
  EXPECT_FALSE(pool.hash_of(2).has_value());
  EXPECT_EQ(pool.find_cached(h(100)), 0);
  EXPECT_EQ(pool.find_cached(h(101)), 1);
  EXPECT_EQ(pool.num_cached_blocks(), 2);
  pool.check_invariants();
}

TEST(BlockPool, TouchTakesCachedBlockOutOfFreeQueue) {
  BlockPool pool(3);
  EXPECT_EQ(pool.allocate(1), (Ids{0}));
  ASSERT_TRUE(pool.register_hash(0, h(7)));
  pool.release({0});
  EXPECT_EQ(pool.num_free_blocks(), 3);
  ASSERT_EQ(pool.find_cached(h(7)), 0);

  pool.touch({0});  // a prefix hit on a free cached block
  EXPECT_EQ(pool.ref_count(0), 1);
  EXPECT_EQ(pool.num_free_blocks(), 2);
  EXPECT_EQ(pool.free_queue(), (Ids{1, 2}));
  pool.touch({0});  // a second request shares it
  EXPECT_EQ(pool.ref_count(0), 2);
  pool.check_invariants();

  pool.release({0});
  EXPECT_EQ(pool.ref_count(0), 1);
  EXPECT_EQ(pool.num_free_blocks(), 2);
  pool.release({0});
  EXPECT_EQ(pool.free_queue(), (Ids{1, 2, 0}));
  EXPECT_EQ(pool.find_cached(h(7)), 0);  // still cached while free
  pool.check_invariants();
}

TEST(BlockPool, DuplicateHashLeavesSecondBlockUncached) {
  BlockPool pool(3);
  EXPECT_EQ(pool.allocate(2), (Ids{0, 1}));
  EXPECT_TRUE(pool.register_hash(0, h(5)));
  EXPECT_FALSE(pool.register_hash(1, h(5)));
  EXPECT_FALSE(pool.hash_of(1).has_value());
  EXPECT_EQ(pool.find_cached(h(5)), 0);
  EXPECT_TRUE(pool.register_hash(0, h(5)));  // re-registering the same block is a no-op
  pool.release({0, 1});                      // 0 cached -> tail, 1 uncached -> head
  EXPECT_EQ(pool.free_queue(), (Ids{1, 2, 0}));
  pool.check_invariants();
}

TEST(BlockPool, MisuseIsAnErrorNotACrash) {
  BlockPool pool(2);
  EXPECT_THROW(pool.release({0}), Error);  // not referenced
  EXPECT_THROW(pool.release({5}), Error);  // out of range
  EXPECT_THROW(pool.touch({-1}), Error);
  EXPECT_THROW(pool.register_hash(1, h(1)), Error);  // free block
  pool.check_invariants();
}

TEST(BlockPool, ResetPrefixCacheDropsEveryHash) {
  BlockPool pool(4);
  EXPECT_EQ(pool.allocate(3), (Ids{0, 1, 2}));
  ASSERT_TRUE(pool.register_hash(0, h(10)));
  ASSERT_TRUE(pool.register_hash(1, h(11)));
  pool.release({1, 0});
  EXPECT_EQ(pool.num_cached_blocks(), 2);

  // Block 2 is still referenced: nothing changes.
  EXPECT_FALSE(pool.reset_prefix_cache());
  EXPECT_EQ(pool.num_cached_blocks(), 2);
  EXPECT_EQ(pool.find_cached(h(10)), 0);
  pool.check_invariants();

  pool.release({2});  // uncached: to the head
  const Ids queue = pool.free_queue();
  EXPECT_EQ(queue, (Ids{2, 3, 1, 0}));
  EXPECT_TRUE(pool.reset_prefix_cache());
  EXPECT_EQ(pool.num_cached_blocks(), 0);
  EXPECT_FALSE(pool.find_cached(h(10)).has_value());
  EXPECT_FALSE(pool.find_cached(h(11)).has_value());
  EXPECT_FALSE(pool.hash_of(0).has_value());
  EXPECT_EQ(pool.free_queue(), queue) << "the free-queue order is kept";
  EXPECT_EQ(pool.num_free_blocks(), 4);
  pool.check_invariants();
  // The hashes can be registered again, on other blocks.
  EXPECT_EQ(pool.allocate(1), (Ids{2}));
  EXPECT_TRUE(pool.register_hash(2, h(10)));
  pool.check_invariants();
  EXPECT_FALSE(pool.reset_prefix_cache());  // block 2 is referenced
}
