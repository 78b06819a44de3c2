"""Entry points with vLLM's module paths (``python -m shardlm.entrypoints.openai.api_server``)."""
