// Private memory pools of the CUDA caching allocator, for CUDA graphs (internal to ops/cuda).
//
// A graph replays the device addresses it was captured with, so memory a graph uses must never be handed to
// a tensor allocated outside it. While a pool is active on a thread, every allocation of that thread comes
// from the pool (its cached blocks, else a new cudaMalloc tagged with it); a pool block that is freed goes
// back to its own pool, never to the general cache, whether or not the pool is still active. Graphs replay
// one after another on the one stream, so every graph may share one pool: a block one graph uses only
// inside its run may be reused inside another's (PyTorch's graph-pool design). Once the graphs are
// destroyed, release_pool() hands the pool's cached blocks to the general cache.
#pragma once
#include <cstddef>

namespace shardlm::cuda {

int create_pool();            // a new, empty pool id (> 0)
void release_pool(int pool);  // after every graph using it is destroyed; its blocks join the general cache

// Makes `pool` the calling thread's allocation pool for the scope's lifetime (scopes nest).
class PoolScope {
 public:
  explicit PoolScope(int pool);
  ~PoolScope();
  PoolScope(const PoolScope&) = delete;
  PoolScope& operator=(const PoolScope&) = delete;

 private:
  int previous_;
};

// Bytes held by a pool's blocks, live and cached (tests, diagnostics).
size_t pool_bytes(int pool);

}  // namespace shardlm::cuda
