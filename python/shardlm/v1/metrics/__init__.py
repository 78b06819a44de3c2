"""See shardlm.v1.metrics.reader."""
