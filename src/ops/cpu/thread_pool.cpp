// The kernels' thread pool (see thread_pool.h for why it is not OpenMP).
//
// A job is published by first setting `claim_` to (new job id << 32 | no items), then writing the
// descriptor (release), then `claim_` = (job id << 32 | 0), then `job_id_`. Items are claimed by
// compare-and-swap on `claim_`, which fails once the job id in it changed, so a worker that wakes late can
// never run an item of a job it did not read: a worker that read any part of a newer descriptor also sees
// the newer id in `claim_`, and a successful claim of item i < n of job j proves job j is unfinished.
#include "ops/cpu/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "ops/cpu/cpu_kernels.h"

namespace shardlm::cpu {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// How long an idle worker polls for the next job before sleeping, and the caller polls for stragglers
// before yielding its core.
constexpr auto kSpin = std::chrono::microseconds(50);
constexpr uint32_t kNoItems = 0xFFFFFFFFu;

thread_local bool t_inside_body = false;

class ThreadPool {
 public:
  ~ThreadPool() { stop_workers(); }

  void resize(int num_threads) {
    std::lock_guard<std::mutex> use(use_mutex_);
    const int workers = std::max(0, num_threads - 1);
    if (workers == (int)workers_.size()) return;
    stop_workers();
    stop_.store(false);
    // Workers start from the current job id (no job runs while use_mutex_ is held), so the first job
    // published after this is new to them however late their threads start.
    const uint32_t current = job_id_.load();
    for (int i = 0; i < workers; ++i) workers_.emplace_back([this, current] { worker_loop(current); });
  }

  void run(int64_t n, ParallelBody body, void* context) {
    std::unique_lock<std::mutex> use(use_mutex_, std::try_to_lock);
    if (n < 2 || n >= (int64_t)kNoItems || t_inside_body || !use.owns_lock() || workers_.empty()) {
      run_serial(n, body, context);
      return;
    }
    const uint32_t id = job_id_.load(std::memory_order_relaxed) + 1;
    claim_.store((uint64_t)id << 32 | kNoItems, std::memory_order_release);
    body_.store(body, std::memory_order_release);
    context_.store(context, std::memory_order_release);
    n_.store(n, std::memory_order_release);
    done_.store(0, std::memory_order_relaxed);
    claim_.store((uint64_t)id << 32, std::memory_order_release);
    job_id_.store(id, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      { std::lock_guard<std::mutex> lock(sleep_mutex_); }
      wake_.notify_all();
    }
    const int64_t mine = run_items(id, n, body, context);
    // Wait only for items other threads claimed and have not finished.
    if (done_.fetch_add(mine, std::memory_order_acq_rel) + mine < n) {
      const auto start = std::chrono::steady_clock::now();
      int polls = 0;
      while (done_.load(std::memory_order_acquire) < n) {
        if (++polls < 64 || std::chrono::steady_clock::now() - start < kSpin) cpu_relax();
        else std::this_thread::yield();
      }
    }
  }

 private:
  static void run_serial(int64_t n, ParallelBody body, void* context) {
    for (int64_t i = 0; i < n; ++i) body(context, i);
  }

  // Claims and runs items of job `id` until none is left; returns how many it ran.
  int64_t run_items(uint32_t id, int64_t n, ParallelBody body, void* context) {
    const bool was_inside = t_inside_body;
    t_inside_body = true;
    int64_t ran = 0;
    uint64_t cur = claim_.load(std::memory_order_acquire);
    for (;;) {
      if ((uint32_t)(cur >> 32) != id || (int64_t)(uint32_t)cur >= n) break;
      if (!claim_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      body(context, (int64_t)(uint32_t)cur);
      ++ran;
      cur = claim_.load(std::memory_order_acquire);
    }
    t_inside_body = was_inside;
    return ran;
  }

  void worker_loop(uint32_t seen) {
    while (!stop_.load(std::memory_order_acquire)) {
      uint32_t id = wait_for_job(seen);
      if (stop_.load(std::memory_order_acquire)) break;
      seen = id;
      const int64_t n = n_.load(std::memory_order_acquire);
      ParallelBody body = body_.load(std::memory_order_acquire);
      void* context = context_.load(std::memory_order_acquire);
      const int64_t ran = run_items(id, n, body, context);
      if (ran > 0) done_.fetch_add(ran, std::memory_order_acq_rel);
    }
  }

  uint32_t wait_for_job(uint32_t seen) {
    const auto start = std::chrono::steady_clock::now();
    for (int polls = 0;; ++polls) {
      const uint32_t id = job_id_.load(std::memory_order_acquire);
      if (id != seen || stop_.load(std::memory_order_acquire)) return id;
      if ((polls & 63) == 63 && std::chrono::steady_clock::now() - start > kSpin) break;
      cpu_relax();
    }
    std::unique_lock<std::mutex> lock(sleep_mutex_);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    wake_.wait(lock, [&] { return job_id_.load(std::memory_order_seq_cst) != seen || stop_.load(); });
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    return job_id_.load(std::memory_order_acquire);
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(sleep_mutex_);
      stop_.store(true);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::mutex use_mutex_;  // one caller at a time
  std::vector<std::thread> workers_;
  std::atomic<bool> stop_{false};
  std::atomic<uint32_t> job_id_{0};
  std::atomic<uint64_t> claim_{0};
  std::atomic<int64_t> done_{0}, n_{0};
  std::atomic<ParallelBody> body_{nullptr};
  std::atomic<void*> context_{nullptr};
  std::atomic<int> sleepers_{0};
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
};

ThreadPool& pool() {
  static ThreadPool* p = [] {
    auto* created = new ThreadPool;  // never destroyed: workers may still be sleeping at exit
    created->resize(num_threads());
    return created;
  }();
  return *p;
}

}  // namespace

void parallel_for_raw(int64_t n, ParallelBody body, void* context) { pool().run(n, body, context); }

void resize_thread_pool(int num_threads) { pool().resize(num_threads); }

}  // namespace shardlm::cpu
