// vLLM's `generation_config` setting: the default SamplingParams a model's generation_config.json sets
// ("auto": the model folder's; "vllm": none, vLLM's neutral defaults; otherwise a folder holding one).
// As vLLM does, only temperature, top_k, top_p, min_p, repetition_penalty and max_new_tokens (as max_tokens)
// are taken, and only where they differ from transformers' GenerationConfig defaults (1.0, 50, 1.0, unset,
// 1.0, unset): a file that merely repeats those defaults changes nothing.
#pragma once
#include <string>

#include "shardlm/sampling_params.h"

namespace shardlm {

SamplingParams generation_defaults(const std::string& generation_config, const std::string& model_dir);

}  // namespace shardlm
