// The engine's metrics as vLLM's LLM.get_metrics() reports them (vllm.v1.metrics.reader): counters, gauges and
// histograms under vLLM's names ("vllm:prompt_tokens", "vllm:time_to_first_token_seconds", ...). One snapshot of
// the same counters the OpenAI server's /metrics shows.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace shardlm {

enum class MetricKind { Counter, Gauge, Histogram };

struct Metric {
  std::string name;  // vLLM's name; counters without Prometheus' "_total" suffix, as vLLM's reader gives them
  MetricKind kind = MetricKind::Gauge;
  std::map<std::string, std::string> labels;  // e.g. {"finished_reason": "stop"}
  double value = 0;  // Counter (a whole number) and Gauge
  // Histogram: upper bounds of the buckets and how many observations fell at or below each (cumulative); the
  // last count is the +Inf bucket, so bucket_counts.size() == bucket_bounds.size() + 1 and its last == count.
  std::vector<double> bucket_bounds;
  std::vector<int64_t> bucket_counts;
  int64_t count = 0;
  double sum = 0;
};

}  // namespace shardlm
