// Command-line flags for EngineArgs, shared by `generate` and `bench` (vLLM's engine flag names).
#pragma once
#include <CLI/CLI.hpp>

#include "shardlm/llm.h"

namespace shardlm::cli {

struct EngineFlags {
  EngineArgs args;
  bool no_prefix_caching = false, no_chunked_prefill = false;
  EngineArgs resolve() const {
    EngineArgs a = args;
    if (no_prefix_caching) a.enable_prefix_caching = false;
    if (no_chunked_prefill) a.enable_chunked_prefill = false;
    return a;
  }
};

inline void add_engine_flags(CLI::App* app, EngineFlags& f, bool model_required = true) {
  auto* m = app->add_option("--model,-m", f.args.model, "Hugging Face model folder or hub id in the local HF cache");
  if (model_required) m->required();
  app->add_option("--tokenizer", f.args.tokenizer, "tokenizer folder (default: the model's)");
  app->add_option("--dtype", f.args.dtype, "auto, float32, float16, bfloat16")->capture_default_str();
  app->add_option("--device", f.args.device, "auto, cpu, cuda")->capture_default_str();
  app->add_option("--tensor-parallel-size", f.args.tensor_parallel_size, "ranks to shard one replica over")
      ->capture_default_str();
  app->add_option("--data-parallel-size", f.args.data_parallel_size,
                  "engine replicas; launcher world size = data-parallel size x tensor-parallel size (1: world / tp)")
      ->capture_default_str();
  app->add_option("--max-model-len", f.args.max_model_len, "longest sequence (0: the model's limit)");
  app->add_option("--engine-seed", f.args.seed, "seed for requests without their own seed")->capture_default_str();
  app->add_option("--block-size", f.args.block_size, "KV-cache block size in tokens")->capture_default_str();
  app->add_option("--max-num-batched-tokens", f.args.max_num_batched_tokens,
                  "token budget per step (0: vLLM's default: 16384 offline / 8192 served on GPUs of 70 GiB or more "
                  "other than A100, 8192 / 2048 on other GPUs, 8192 on CPUs)");
  app->add_option("--max-num-seqs", f.args.max_num_seqs,
                  "requests running at once (0: vLLM's default: 1024 on GPUs of 70 GiB or more other than A100, else 256)");
  app->add_flag("--enable-prefix-caching,!--no-enable-prefix-caching", f.args.enable_prefix_caching,
                "reuse KV blocks of shared prompt prefixes (default on)");
  app->add_flag("--enable-chunked-prefill,!--no-enable-chunked-prefill", f.args.enable_chunked_prefill,
                "split long prompts over steps (default on)");
  app->add_option("--kv-cache-memory-bytes", f.args.kv_cache_memory_bytes, "CPU KV-cache budget in bytes (0: auto)");
  app->add_option("--gpu-memory-utilization", f.args.gpu_memory_utilization, "fraction of GPU memory to use")
      ->capture_default_str();
  app->add_option("--num-threads", f.args.num_threads, "CPU threads per rank (0: cores / local ranks)");
  app->add_option("--dist-timeout", f.args.distributed_timeout_s, "seconds to wait for other ranks")->capture_default_str();
  app->add_flag("--enforce-eager", f.args.enforce_eager, "run every step eagerly: no CUDA graphs for decode steps");
  app->add_option("--max-logprobs", f.args.max_logprobs, "most log-probabilities a request may ask for (-1: no limit)")
      ->capture_default_str();
}

}  // namespace shardlm::cli
