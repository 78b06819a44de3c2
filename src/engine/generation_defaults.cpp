// generation_defaults (see generation_defaults.h): fields read with their types checked, errors naming the
// file and the field.
#include "engine/generation_defaults.h"

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "io/json_file.h"

namespace shardlm {

namespace {

double number(const nlohmann::json& g, const std::string& file, const char* field) {
  const nlohmann::json& v = g[field];
  if (!v.is_number() || !std::isfinite(v.get<double>()))
    fail(file, ": field '", field, "' must be a number, got ", json_excerpt(v));
  return v.get<double>();
}

int64_t integer(const nlohmann::json& g, const std::string& file, const char* field) {
  const nlohmann::json& v = g[field];
  if (!v.is_number_integer()) fail(file, ": field '", field, "' must be an integer, got ", json_excerpt(v));
  return v.get<int64_t>();
}

}  // namespace

SamplingParams generation_defaults(const std::string& generation_config, const std::string& model_dir) {
  SamplingParams p;
  if (generation_config == "vllm") return p;
  const std::string dir = generation_config == "auto" || generation_config.empty() ? model_dir : generation_config;
  const std::string file = dir + "/generation_config.json";
  if (!std::filesystem::exists(file)) {
    if (generation_config != "auto" && !generation_config.empty())
      throw std::invalid_argument("generation_config: '" + file + "' does not exist (give \"auto\", \"vllm\" or a folder holding one)");
    return p;
  }
  const nlohmann::json g = read_json_file(file, "generation config");
  if (!g.is_object()) fail(file, ": expected a JSON object, got ", json_excerpt(g));
  auto has = [&](const char* field) { return g.contains(field) && !g[field].is_null(); };
  if (has("temperature") && number(g, file, "temperature") != 1.0) p.temperature = (float)number(g, file, "temperature");
  if (has("top_p") && number(g, file, "top_p") != 1.0) p.top_p = (float)number(g, file, "top_p");
  if (has("top_k") && integer(g, file, "top_k") != 50) p.top_k = (int)integer(g, file, "top_k");
  if (has("min_p")) p.min_p = (float)number(g, file, "min_p");
  if (has("repetition_penalty") && number(g, file, "repetition_penalty") != 1.0)
    p.repetition_penalty = (float)number(g, file, "repetition_penalty");
  if (has("max_new_tokens")) {
    const int64_t n = integer(g, file, "max_new_tokens");
    if (n < 1 || n > INT32_MAX) fail(file, ": field 'max_new_tokens' must be a positive 32-bit integer, got ", n);
    p.max_tokens = (int)n;
  }
  try {
    p.validate();
  } catch (const std::invalid_argument& e) {
    fail(file, ": the sampling defaults it sets are invalid: ", e.what());
  }
  return p;
}

}  // namespace shardlm
