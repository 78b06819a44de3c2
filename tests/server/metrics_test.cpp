// Prometheus histograms: cumulative buckets (an observation on a bound counts in that bucket, as Prometheus'
// "le" says), +Inf, sum and count; the request metrics' names and finish-reason counters.
#include <gtest/gtest.h>

#include "server/metrics.h"

using namespace shardlm::server;

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Histogram h({0.1, 1.0});
  for (double v : {0.05, 0.1, 0.5, 3.0}) h.observe(v);
  const std::string text = h.prometheus("x_seconds", "help", "m=\"a\"");
  EXPECT_NE(text.find("# TYPE x_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("x_seconds_bucket{m=\"a\",le=\"0.10000000000000001\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_bucket{m=\"a\",le=\"1\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_bucket{m=\"a\",le=\"+Inf\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_sum{m=\"a\"} 3.6499999999999999\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_count{m=\"a\"} 4\n"), std::string::npos) << text;
}

TEST(Metrics, RequestMetricsNamesAndFinishReasons) {
  RequestMetrics m;
  m.time_to_first_token.observe(0.2);
  m.finished("length");
  m.finished("length");
  const std::string text = m.prometheus("model_name=\"t\"");
  for (const char* name : {"shardlm:time_to_first_token_seconds_count{model_name=\"t\"} 1",
                           "shardlm:inter_token_latency_seconds_count{model_name=\"t\"} 0",
                           "shardlm:request_time_per_output_token_seconds_bucket",
                           "shardlm:e2e_request_latency_seconds_sum",
                           "shardlm:request_success_total{model_name=\"t\",finished_reason=\"length\"} 2",
                           "shardlm:request_success_total{model_name=\"t\",finished_reason=\"stop\"} 0"})
    EXPECT_NE(text.find(name), std::string::npos) << name;
}
