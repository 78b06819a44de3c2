// EngineMetrics (engine/engine_metrics.h). Bucket bounds are vLLM's, so dashboards built for vLLM read
// shardlm's the same way.
#include "engine/engine_metrics.h"

#include <algorithm>
#include <chrono>

namespace shardlm {

double metrics_clock_now() {
  using namespace std::chrono;
  static const auto anchor_steady = steady_clock::now();
  static const double anchor_epoch = duration<double>(system_clock::now().time_since_epoch()).count();
  return anchor_epoch + duration<double>(steady_clock::now() - anchor_steady).count();
}

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1) {}

void Histogram::observe(double value) {
  const size_t b = (size_t)(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  ++counts_[b];
  sum_ += value;
  ++count_;
}

Metric Histogram::snapshot(const std::string& name) const {
  Metric m;
  m.name = name;
  m.kind = MetricKind::Histogram;
  m.bucket_bounds = bounds_;
  int64_t cumulative = 0;
  for (int64_t c : counts_) m.bucket_counts.push_back(cumulative += c);
  m.count = count_;
  m.sum = sum_;
  return m;
}

namespace {
const std::vector<double> kLatencyBuckets = {0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,    10.0,   15.0,  20.0,
                                             30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
const std::vector<double> kTokenGapBuckets = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,  0.3,  0.4, 0.5,
                                              0.75, 1.0,   2.5,  5.0,   7.5, 10.0, 20.0, 40.0, 80.0};
}  // namespace

EngineMetrics::EngineMetrics()
    : time_to_first_token_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                            20.0, 40.0, 80.0, 160.0, 640.0, 2560.0}),
      inter_token_latency_(kTokenGapBuckets),
      time_per_output_token_(kTokenGapBuckets),
      e2e_request_latency_(kLatencyBuckets),
      request_queue_time_(kLatencyBuckets) {}

void EngineMetrics::first_token(const RequestMetrics& m) {
  std::lock_guard<std::mutex> lock(mu_);
  time_to_first_token_.observe(m.first_token_latency);
}

void EngineMetrics::token_gap(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  inter_token_latency_.observe(seconds);
}

void EngineMetrics::finished(const RequestMetrics& m, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  ++finished_[reason];
  e2e_request_latency_.observe(m.finished_time - m.arrival_time);
  if (m.first_scheduled_time > 0) request_queue_time_.observe(m.time_in_queue);
  if (m.num_generation_tokens > 1)
    time_per_output_token_.observe((m.last_token_time - m.first_token_time) / (double)(m.num_generation_tokens - 1));
}

std::vector<Metric> EngineMetrics::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Metric> out;
  out.push_back(time_to_first_token_.snapshot("vllm:time_to_first_token_seconds"));
  out.push_back(inter_token_latency_.snapshot("vllm:inter_token_latency_seconds"));
  out.push_back(time_per_output_token_.snapshot("vllm:request_time_per_output_token_seconds"));
  out.push_back(e2e_request_latency_.snapshot("vllm:e2e_request_latency_seconds"));
  out.push_back(request_queue_time_.snapshot("vllm:request_queue_time_seconds"));
  std::map<std::string, int64_t> reasons = finished_;
  for (const char* r : {"stop", "length", "abort"}) reasons.emplace(r, 0);
  for (const auto& [reason, n] : reasons) {
    Metric c;
    c.name = "vllm:request_success";
    c.kind = MetricKind::Counter;
    c.labels = {{"finished_reason", reason}};
    c.value = (double)n;
    out.push_back(c);
  }
  return out;
}

}  // namespace shardlm
