"""Running vLLM's own tests against shardlm: model_map (local stand-ins for the hub ids vLLM's tests name),
runners (vLLM's VllmRunner / HfRunner test helpers), vllm_conftest (the pytest plugin with vLLM's fixtures) and
vllm_rewrite (copies a vLLM checkout's tests, rewrites `vllm` imports to `shardlm` and model ids to stand-ins,
runs them). Needs pytest, and torch + transformers for hf_runner. See docs/vllm-tests.md."""
