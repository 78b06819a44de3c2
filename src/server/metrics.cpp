// Prometheus text rendering of server/metrics.h.
#include "server/metrics.h"

#include <cstdio>
#include <map>
#include <set>

namespace shardlm::server {

namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

const char* help_of(const std::string& name) {
  static const std::map<std::string, const char*> help = {
      {"time_to_first_token_seconds", "Time from a request's arrival to its first token."},
      {"inter_token_latency_seconds", "Time between a request's consecutive engine outputs."},
      {"request_time_per_output_token_seconds", "A finished request's decode time per output token after the first."},
      {"e2e_request_latency_seconds", "Time from a request's arrival to its end."},
      {"request_queue_time_seconds", "Time from a request's arrival to its first scheduled step."},
      {"request_success", "Finished requests by finish reason."},
  };
  const auto it = help.find(name);
  return it == help.end() ? "" : it->second;
}

}  // namespace

std::string prometheus_text(const std::vector<Metric>& metrics, const std::string& labels) {
  std::string out;
  std::set<std::string> described;
  for (const Metric& m : metrics) {
    const std::string base = m.name.rfind("vllm:", 0) == 0 ? m.name.substr(5) : m.name;
    const std::string name = "shardlm:" + base;
    std::string all_labels = labels;
    for (const auto& [k, v] : m.labels) all_labels += (all_labels.empty() ? "" : ",") + k + "=\"" + v + "\"";
    const char* type = m.kind == MetricKind::Counter ? "counter" : m.kind == MetricKind::Gauge ? "gauge" : "histogram";
    if (described.insert(name).second)
      out += "# HELP " + name + " " + help_of(base) + "\n# TYPE " + name + " " + type + "\n";
    switch (m.kind) {
      case MetricKind::Counter:
        out += name + "_total{" + all_labels + "} " + number(m.value) + "\n";
        break;
      case MetricKind::Gauge:
        out += name + "{" + all_labels + "} " + number(m.value) + "\n";
        break;
      case MetricKind::Histogram: {
        const std::string sep = all_labels.empty() ? "" : ",";
        for (size_t i = 0; i < m.bucket_counts.size(); ++i) {
          const std::string le = i < m.bucket_bounds.size() ? number(m.bucket_bounds[i]) : "+Inf";
          out += name + "_bucket{" + all_labels + sep + "le=\"" + le + "\"} " + std::to_string(m.bucket_counts[i]) + "\n";
        }
        out += name + "_sum{" + all_labels + "} " + number(m.sum) + "\n";
        out += name + "_count{" + all_labels + "} " + std::to_string(m.count) + "\n";
        break;
      }
    }
  }
  return out;
}

}  // namespace shardlm::server
