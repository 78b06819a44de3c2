// SamplingParams, prompts and EngineArgs <-> JSON, field by field through their for_each_field: what the
// server's leader sends its followers, what self-launched ranks receive (api/self_launch.h), and what ranks
// hash to check they agree (LLM::generate). Floats travel as their exact value, so a round trip gives back the
// same struct.
#pragma once
#include <nlohmann/json.hpp>

#include "shardlm/llm.h"
#include "shardlm/sampling_params.h"

namespace shardlm {

// {"n": 1, "temperature": 0.7, "seed": null, "logit_bias": [[id, bias], ...], "output_kind": 0, ...}
nlohmann::json sampling_params_to_json(const SamplingParams& p);
// The inverse of sampling_params_to_json; a field left out keeps its default. Throws nlohmann's type_error
// on a value of the wrong type.
SamplingParams sampling_params_from_json(const nlohmann::json& j);

// {"text": "..."} or {"ids": [...]}
nlohmann::json prompt_to_json(const Prompt& p);
Prompt prompt_from_json(const nlohmann::json& j);

// {"model": "...", "tensor_parallel_size": 2, ...}; the inverse keeps defaults for fields left out.
nlohmann::json engine_args_to_json(const EngineArgs& a);
EngineArgs engine_args_from_json(const nlohmann::json& j);

}  // namespace shardlm
