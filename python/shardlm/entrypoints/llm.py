"""vLLM's `vllm.entrypoints.llm` path to LLM (defined in shardlm.llm)."""

from shardlm.llm import LLM

__all__ = ["LLM"]
