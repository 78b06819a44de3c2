// Histograms and counters of server/metrics.h. Bucket bounds are vLLM's, so dashboards built for vLLM's
// server read shardlm's the same way.
#include "server/metrics.h"

#include <algorithm>
#include <cstdio>

namespace shardlm::server {

namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1) {}

void Histogram::observe(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  const size_t b = (size_t)(std::lower_bound(bounds_.begin(), bounds_.end(), seconds) - bounds_.begin());
  ++counts_[b];
  sum_ += seconds;
  ++count_;
}

std::string Histogram::prometheus(const std::string& name, const std::string& help, const std::string& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out = "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
    out += name + "_bucket{" + labels + ",le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_sum{" + labels + "} " + number(sum_) + "\n";
  out += name + "_count{" + labels + "} " + std::to_string(count_) + "\n";
  return out;
}

RequestMetrics::RequestMetrics()
    : time_to_first_token({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                           20.0, 40.0, 80.0, 160.0, 640.0, 2560.0}),
      inter_token_latency({0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                           20.0, 40.0, 80.0}),
      time_per_output_token({0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                             20.0, 40.0, 80.0}),
      e2e_request_latency({0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
                           240.0, 480.0, 960.0, 1920.0, 7680.0}) {}

void RequestMetrics::finished(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  ++finished_[reason];
}

std::string RequestMetrics::prometheus(const std::string& labels) const {
  std::string out = time_to_first_token.prometheus("shardlm:time_to_first_token_seconds",
                                                   "Time from a request's arrival to its first token.", labels);
  out += inter_token_latency.prometheus("shardlm:inter_token_latency_seconds",
                                        "Time between a request's consecutive engine outputs.", labels);
  out += time_per_output_token.prometheus("shardlm:request_time_per_output_token_seconds",
                                          "A finished request's decode time per output token after the first.", labels);
  out += e2e_request_latency.prometheus("shardlm:e2e_request_latency_seconds",
                                        "Time from a request's arrival to its end.", labels);
  std::lock_guard<std::mutex> lock(mu_);
  out += "# HELP shardlm:request_success_total Finished requests by finish reason.\n"
         "# TYPE shardlm:request_success_total counter\n";
  for (const char* reason : {"stop", "length", "abort"}) {
    const auto it = finished_.find(reason);
    out += "shardlm:request_success_total{" + labels + ",finished_reason=\"" + reason + "\"} " +
           std::to_string(it == finished_.end() ? 0 : it->second) + "\n";
  }
  return out;
}

}  // namespace shardlm::server
