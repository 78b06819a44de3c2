"""vLLM's `vllm.v1` module paths that user programs import (`vllm.v1.metrics.reader`), so they run with only
`vllm` replaced by `shardlm`."""
