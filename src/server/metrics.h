// The server's latency metrics in Prometheus' text format: the engine's metrics (engine/engine_metrics.h, the
// one place they are counted) under vLLM's names with the shardlm: prefix in place of vllm:.
#pragma once
#include <string>
#include <vector>

#include "shardlm/metrics.h"

namespace shardlm::server {

// "# HELP" / "# TYPE" once per name, then the samples: counters as NAME_total, histograms as cumulative
// NAME_bucket{...,le="..."} lines with +Inf, NAME_sum and NAME_count. `labels` (`key="value",...`) is put
// before each metric's own labels.
std::string prometheus_text(const std::vector<Metric>& metrics, const std::string& labels);

}  // namespace shardlm::server
