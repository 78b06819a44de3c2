"""vLLM's `vllm.engine.arg_utils` path to EngineArgs (defined in shardlm.engine_args)."""

from shardlm import EngineArgs

__all__ = ["EngineArgs"]
