"""LLM.get_metrics(): the engine's counters, gauges and histograms in the shapes of vLLM's
vllm.v1.metrics.reader (Counter, Gauge, Histogram, Vector), under vLLM's names ("vllm:prompt_tokens",
"vllm:time_to_first_token_seconds", ...). They are the counters the OpenAI server's /metrics shows."""


class Metric:
    """A metric's name (vLLM's, e.g. "vllm:generation_tokens") and labels (e.g. {"finished_reason": "stop"})."""

    def __init__(self, name, labels):
        self.name = name
        self.labels = labels

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Counter(Metric):
    """A monotonically increasing count: value (an int)."""

    def __init__(self, name, labels, value):
        super().__init__(name, labels)
        self.value = value


class Gauge(Metric):
    """A value that goes up and down: value (a float)."""

    def __init__(self, name, labels, value):
        super().__init__(name, labels)
        self.value = value


class Vector(Metric):
    """A list of counts (vLLM uses it for per-position speculative-decoding counts; shardlm reports none)."""

    def __init__(self, name, labels, values):
        super().__init__(name, labels)
        self.values = values


class Histogram(Metric):
    """count observations summing to sum; buckets: {upper bound as Prometheus writes it ("0.5", "+Inf"):
    observations at or below it (cumulative)}."""

    def __init__(self, name, labels, count, sum, buckets):  # noqa: A002 (vLLM's field name)
        super().__init__(name, labels)
        self.count = count
        self.sum = sum
        self.buckets = buckets


def from_native(raw_metrics):
    out = []
    for m in raw_metrics:
        labels = dict(m.labels)
        if m.kind == "counter":
            out.append(Counter(m.name, labels, int(m.value)))
        elif m.kind == "gauge":
            out.append(Gauge(m.name, labels, float(m.value)))
        else:
            keys = [repr(float(b)) for b in m.bucket_bounds] + ["+Inf"]
            out.append(Histogram(m.name, labels, m.count, m.sum, dict(zip(keys, m.bucket_counts))))
    return out


__all__ = ["Metric", "Counter", "Gauge", "Histogram", "Vector"]
