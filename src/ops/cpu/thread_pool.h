// The CPU kernels' persistent thread pool: parallel_for(n, fn) runs fn(i) for every i in [0, n) on the
// calling thread and num_threads() - 1 workers, handing out items one at a time.
//
// Why not OpenMP regions: on a machine shared with other busy processes, a worker that is not on a core
// when a region starts holds every region's closing barrier for a scheduler time slice, and libgomp's
// default spinning then burns the cores the others need (a decode step went from 30 ms to 350 ms at a load
// average of 9 on 2 cores). Here the caller never waits for a worker that has not claimed an item: items go
// to whoever is running, workers spin for a few tens of microseconds between jobs (back-to-back kernels
// find them awake) and then sleep.
#pragma once
#include <cstdint>
#include <type_traits>
#include <utility>

namespace shardlm::cpu {

using ParallelBody = void (*)(void* context, int64_t item);

// Runs body(context, i) for i in [0, n); returns when all have returned. Runs on the calling thread alone
// when n < 2, when the pool has no workers, when called from inside a body, or while another thread is
// using the pool.
void parallel_for_raw(int64_t n, ParallelBody body, void* context);

template <class F>
void parallel_for(int64_t n, F&& fn) {
  using Fn = std::remove_reference_t<F>;
  parallel_for_raw(
      n, [](void* ctx, int64_t i) { (*static_cast<Fn*>(ctx))(i); }, const_cast<void*>(static_cast<const void*>(&fn)));
}

// parallel_for when `parallel` (enough work to pay for waking workers), else a plain loop.
template <class F>
void parallel_for_if(bool parallel, int64_t n, F&& fn) {
  if (parallel) {
    parallel_for(n, fn);
  } else {
    for (int64_t i = 0; i < n; ++i) fn(i);
  }
}

// Sets the number of threads taking part (the caller included); restarts the workers when it changes.
void resize_thread_pool(int num_threads);

}  // namespace shardlm::cpu
