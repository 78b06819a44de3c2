// The server's request latency metrics, in Prometheus' text format with vLLM's metric names and buckets
// (under the shardlm: prefix): time to first token, inter-token latency, time per output token, end-to-end
// latency, and finished requests by finish reason. Written by the engine thread, read by /metrics.
#pragma once
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace shardlm::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double seconds);
  // "# HELP", "# TYPE" and the _bucket{le=...}, _sum and _count lines; `labels` is `key="value"`.
  std::string prometheus(const std::string& name, const std::string& help, const std::string& labels) const;

 private:
  mutable std::mutex mu_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; the last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

struct RequestMetrics {
  Histogram time_to_first_token, inter_token_latency, time_per_output_token, e2e_request_latency;
  RequestMetrics();
  void finished(const std::string& reason);
  std::string prometheus(const std::string& labels) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> finished_;  // by finish reason
};

}  // namespace shardlm::server
