// Prometheus rendering of the engine's metrics: cumulative buckets (an observation on a bound counts in that
// bucket, as Prometheus' "le" says), +Inf, sum and count; counters as _total; vllm: renamed shardlm:; the
// request metrics' names and finish-reason counters.
#include <gtest/gtest.h>

#include "engine/engine_metrics.h"
#include "server/metrics.h"

using namespace shardlm;
using namespace shardlm::server;

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Histogram h({0.1, 1.0});
  for (double v : {0.05, 0.1, 0.5, 3.0}) h.observe(v);
  const Metric m = h.snapshot("vllm:x_seconds");
  EXPECT_EQ(m.bucket_counts, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(m.count, 4);
  const std::string text = prometheus_text({m}, "m=\"a\"");
  EXPECT_NE(text.find("# TYPE shardlm:x_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("shardlm:x_seconds_bucket{m=\"a\",le=\"0.10000000000000001\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("shardlm:x_seconds_bucket{m=\"a\",le=\"1\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("shardlm:x_seconds_bucket{m=\"a\",le=\"+Inf\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("shardlm:x_seconds_sum{m=\"a\"} 3.6499999999999999\n"), std::string::npos) << text;
  EXPECT_NE(text.find("shardlm:x_seconds_count{m=\"a\"} 4\n"), std::string::npos) << text;
}

TEST(Metrics, RequestMetricsNamesAndFinishReasons) {
  EngineMetrics m;
  RequestMetrics r;
  r.arrival_time = 10.0;
  r.first_scheduled_time = 10.1;
  r.time_in_queue = 0.1;
  r.first_token_time = 10.2;
  r.first_token_latency = 0.2;
  r.last_token_time = 10.5;
  r.finished_time = 10.5;
  r.num_generation_tokens = 4;
  m.first_token(r);
  m.finished(r, "length");
  m.finished(r, "length");
  const std::string text = prometheus_text(m.snapshot(), "model_name=\"t\"");
  for (const char* name : {"shardlm:time_to_first_token_seconds_count{model_name=\"t\"} 1",
                           "shardlm:inter_token_latency_seconds_count{model_name=\"t\"} 0",
                           "shardlm:request_time_per_output_token_seconds_count{model_name=\"t\"} 2",
                           "shardlm:request_time_per_output_token_seconds_sum{model_name=\"t\"} 0.2",
                           "shardlm:e2e_request_latency_seconds_sum{model_name=\"t\"} 1",
                           "shardlm:request_queue_time_seconds_count{model_name=\"t\"} 2",
                           "shardlm:request_success_total{model_name=\"t\",finished_reason=\"length\"} 2",
                           "shardlm:request_success_total{model_name=\"t\",finished_reason=\"stop\"} 0"})
    EXPECT_NE(text.find(name), std::string::npos) << name << "\n" << text;
  EXPECT_EQ(text.find("# HELP shardlm:request_success "), text.rfind("# HELP shardlm:request_success "));  // once
}
