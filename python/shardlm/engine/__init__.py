"""vLLM's `vllm.engine` module paths: `shardlm.engine.arg_utils.EngineArgs`."""
