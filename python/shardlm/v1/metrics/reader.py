"""vLLM's vllm.v1.metrics.reader path for the metric classes LLM.get_metrics() returns (shardlm.metrics)."""

from shardlm.metrics import Counter, Gauge, Histogram, Metric, Vector

__all__ = ["Metric", "Counter", "Gauge", "Histogram", "Vector"]
