// SamplingParams <-> JSON, field by field through SamplingParams::for_each_field: what the server's leader
// sends its followers, and what ranks hash to check they agree (LLM::generate). Floats travel as their exact
// value, so a round trip gives back the same struct.
#pragma once
#include <nlohmann/json.hpp>

#include "shardlm/sampling_params.h"

namespace shardlm {

// {"n": 1, "temperature": 0.7, "seed": null, "logit_bias": [[id, bias], ...], "output_kind": 0, ...}
nlohmann::json sampling_params_to_json(const SamplingParams& p);
// The inverse of sampling_params_to_json; a field left out keeps its default. Throws nlohmann's type_error
// on a value of the wrong type.
SamplingParams sampling_params_from_json(const nlohmann::json& j);

}  // namespace shardlm
