// The server's engine thread. HTTP threads submit requests and aborts through a queue; one thread owns the
// LLMEngine, steps it while anything is unfinished (continuous batching across every connection), and hands
// each request its streaming deltas and final outputs (RequestDelta / RequestOutput, the engine's one
// streaming interface).
//
// With several ranks (a launcher's, or the self-launched workers of `shardlm serve -tp N`), rank 0 serves HTTP
// and leads: before each step it broadcasts over the world's CPU group what it is about to do (the prompts and
// parameters it adds, with the integer id every engine will give the first of them; the ids it aborts; or
// stop), and every other rank runs follow(), applying the same to its engine, so all ranks schedule
// identically. While idle the leader sends an empty message every second, so followers never sit
// in a collective long enough to time out.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/metrics.h"
#include "shardlm/distributed.h"
#include "shardlm/llm.h"

namespace shardlm {

class LLMEngine;

namespace server {

// What one submitted request (one HTTP call, possibly several prompts) receives, in order.
struct StreamEvent {
  int prompt_index = 0;
  std::optional<RequestDelta> delta;  // tokens gained in a step
  std::optional<RequestOutput> final;  // the prompt finished (or was rejected: final->error)
  std::optional<std::string> failure;  // the engine failed; no more events
};

class RequestStream {
 public:
  explicit RequestStream(int num_prompts) : num_prompts_(num_prompts) {}
  void push(StreamEvent e);
  // The next event, or nullopt when `timeout` passes first.
  std::optional<StreamEvent> next(std::chrono::milliseconds timeout);
  int num_prompts() const { return num_prompts_; }

 private:
  const int num_prompts_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StreamEvent> events_;
};

class EngineLoop {
 public:
  // At most `max_waiting` requests may wait to be added at once (beyond it, submit returns nullptr: HTTP 503).
  // `sync`: the world's CPU group when there are several ranks (this process is rank 0, the leader).
  // `on_fatal` is called (from the engine thread) when a collective fails: a rank died; nothing can go on.
  EngineLoop(LLMEngine& engine, size_t max_waiting, Group* sync = nullptr,
             std::function<void(const std::string&)> on_fatal = {});
  ~EngineLoop();  // stop()
  EngineLoop(const EngineLoop&) = delete;
  EngineLoop& operator=(const EngineLoop&) = delete;

  // Queues the prompts with one set of parameters (validated here: std::invalid_argument). Returns the stream
  // of their events, or nullptr when the queue is full or the loop has stopped.
  std::shared_ptr<RequestStream> submit(std::vector<Prompt> prompts, const SamplingParams& params);
  // Aborts every unfinished prompt of the stream (a client that went away); its KV blocks are freed.
  void abort(const std::shared_ptr<RequestStream>& stream);
  // Finishes: unfinished requests are aborted, the thread joined. Idempotent.
  void stop();

  int64_t num_unfinished() const { return unfinished_.load(); }
  // Ranks other than 0: apply the leader's messages until it says stop. Throws when the leader is lost.
  static void follow(LLMEngine& engine, Group& sync);
  // Requests submitted but not yet handed to the engine.
  int64_t num_queued();
  // The engine's counters as of its last step (read safely from any thread).
  EngineStats stats();
  // The engine's latency histograms and finished-request counts (thread-safe; see engine/engine_metrics.h).
  std::vector<Metric> request_metrics() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Pending;
  void run();

  LLMEngine& engine_;
  const size_t max_waiting_;
  Group* sync_;
  std::function<void(const std::string&)> on_fatal_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Pending>> incoming_;
  std::vector<std::shared_ptr<RequestStream>> aborts_;
  bool stopping_ = false;
  std::atomic<int64_t> unfinished_{0};
  EngineStats stats_;  // under mu_
  std::thread thread_;  // last: starts in the constructor
};

}  // namespace server
}  // namespace shardlm
