// EngineMetrics: the engine's request counters and latency histograms under vLLM's names and bucket bounds
// (time to first token, inter-token latency, time per output token, end-to-end latency, queue time, finished
// requests by reason). The engine writes them as requests progress; LLM::get_metrics() and the server's
// /metrics read snapshots, from any thread.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "shardlm/metrics.h"
#include "shardlm/outputs.h"

namespace shardlm {

// Seconds since the epoch (as Python's time.time()), from a monotonic clock anchored once per process, so
// RequestMetrics' times never go backwards.
double metrics_clock_now();

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);  // counts in the first bucket whose bound is >= value (Prometheus' "le")
  Metric snapshot(const std::string& name) const;

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;  // per bucket, not cumulative; the last is +Inf
  double sum_ = 0;
  int64_t count_ = 0;
};

class EngineMetrics {
 public:
  EngineMetrics();
  void first_token(const RequestMetrics& m);       // m.first_token_latency
  void token_gap(double seconds);                   // between two consecutive outputs of one request
  // A request's end: e2e latency, queue time, time per output token after the first, and the
  // request_success counter for `reason` ("stop", "length", "abort", ...).
  void finished(const RequestMetrics& m, const std::string& reason);
  // The histograms and vllm:request_success (one Counter per finish reason, stop / length / abort always present).
  std::vector<Metric> snapshot() const;

 private:
  mutable std::mutex mu_;
  Histogram time_to_first_token_, inter_token_latency_, time_per_output_token_, e2e_request_latency_,
      request_queue_time_;
  std::map<std::string, int64_t> finished_;  // by finish reason
};

}  // namespace shardlm
