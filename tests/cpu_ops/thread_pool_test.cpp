// The kernels' thread pool: every item runs exactly once, on several threads when there are workers;
// nested and concurrent callers fall back to running on their own thread; resizing takes effect.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/thread_pool.h"

using namespace shardlm;

namespace {

TEST(ThreadPool, EveryItemRunsExactlyOnceAcrossManyJobs) {
  cpu::set_num_threads(3);
  for (int64_t n : {0, 1, 2, 3, 7, 100, 1000}) {
    for (int rep = 0; rep < 50; ++rep) {
      std::vector<std::atomic<int>> hits((size_t)n);
      cpu::parallel_for(n, [&](int64_t i) { hits[(size_t)i].fetch_add(1); });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[(size_t)i].load(), 1) << "n=" << n << " item " << i;
    }
  }
  cpu::set_num_threads(0);
}

TEST(ThreadPool, UsesWorkersWhenItemsWait) {
  cpu::set_num_threads(2);
  std::mutex m;
  std::set<std::thread::id> ids;
  auto distinct = [&] {
    std::lock_guard<std::mutex> lock(m);
    return ids.size();
  };
  // Each item waits (up to 10 s, for a machine under load) until a second thread has run an item: the
  // caller blocks in its first item, so the job can only finish early if the worker joins.
  cpu::parallel_for(8, [&](int64_t) {
    {
      std::lock_guard<std::mutex> lock(m);
      ids.insert(std::this_thread::get_id());
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (distinct() < 2 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  EXPECT_EQ(ids.size(), 2u);
  cpu::set_num_threads(1);
  ids.clear();
  cpu::parallel_for(10, [&](int64_t) {
    std::lock_guard<std::mutex> lock(m);
    ids.insert(std::this_thread::get_id());
  });
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(*ids.begin(), std::this_thread::get_id());
  cpu::set_num_threads(0);
}

TEST(ThreadPool, NestedAndConcurrentCallersComplete) {
  cpu::set_num_threads(2);
  std::atomic<int64_t> sum{0};
  cpu::parallel_for(8, [&](int64_t i) { cpu::parallel_for(8, [&](int64_t j) { sum.fetch_add(i * 8 + j); }); });
  EXPECT_EQ(sum.load(), 64 * 63 / 2);
  std::vector<std::thread> callers;
  std::atomic<int64_t> total{0};
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      for (int rep = 0; rep < 100; ++rep) cpu::parallel_for(16, [&](int64_t) { total.fetch_add(1); });
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 4 * 100 * 16);
  cpu::set_num_threads(0);
}

}  // namespace
