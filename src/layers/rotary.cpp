// Rotary embedding tables. The inverse-frequency formulas follow transformers' rope initialisation functions.
#include "layers/rotary.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/memory_arena.h"
#include "io/json_file.h"
#include "ops/ops.h"

namespace shardlm {

namespace {
// A number field of `j` (the config, or its rope dict named `dict`): absent or null gives `def`; any other
// non-number is an error naming the field.
double num(const nlohmann::json& j, const std::string& dict, const char* key, double def, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_number())
    fail(where, ": field '", dict.empty() ? "" : dict + ".", key, "' must be a number, got ", json_excerpt(j[key]));
  return j[key].get<double>();
}
}  // namespace

RopeConfig parse_rope_config(const nlohmann::json& config, int64_t head_dim, int64_t max_position_embeddings,
                             const std::string& where) {
  RopeConfig rc;
  // transformers v5 writes `rope_parameters`, v4 `rope_scaling` (null when there is no scaling).
  std::string dict;
  nlohmann::json scaling = nlohmann::json::object();
  for (const char* name : {"rope_scaling", "rope_parameters"}) {
    if (!config.contains(name) || config[name].is_null()) continue;
    if (!config[name].is_object())
      fail(where, ": field '", name, "' must be an object (e.g. {\"rope_type\": \"default\", \"rope_theta\": 10000.0}) or null, got ",
           json_excerpt(config[name]));
  }
  if (config.contains("rope_parameters") && config["rope_parameters"].is_object()) {
    dict = "rope_parameters";
  } else if (config.contains("rope_scaling") && config["rope_scaling"].is_object()) {
    dict = "rope_scaling";
  }
  if (!dict.empty()) scaling = config[dict];
  auto scaled = [&](const char* key, double def) { return num(scaling, dict, key, def, where); };
  auto top = [&](const char* key, double def) { return num(config, "", key, def, where); };
  // The field's name as the config spells it: "rope_parameters.rope_theta" when the dict has it.
  auto field = [&](const char* key) {
    return scaling.contains(key) && !scaling[key].is_null() ? dict + "." + key : std::string(key);
  };
  rc.theta = scaled("rope_theta", top("rope_theta", 10000.0));
  if (!(rc.theta > 0) || !std::isfinite(rc.theta))
    fail(where, ": field '", field("rope_theta"), "' must be a positive number, got ", rc.theta);
  std::string type = "default";
  if (scaling.contains("rope_type") && scaling["rope_type"].is_string()) type = scaling["rope_type"];
  else if (scaling.contains("type") && scaling["type"].is_string()) type = scaling["type"];
  if (type == "su" || type == "longrope") fail(where, ": rope type '", type, "' is not supported");
  if (type != "default" && type != "linear" && type != "dynamic" && type != "llama3" && type != "yarn")
    fail(where, ": unknown rope type '", type, "' (supported: default, linear, dynamic, llama3, yarn)");
  rc.rope_type = type;
  double partial = scaled("partial_rotary_factor", top("partial_rotary_factor", 1.0));
  if (!(partial > 0 && partial <= 1))
    fail(where, ": field '", field("partial_rotary_factor"), "' must be in (0, 1], got ", partial);
  rc.rotary_dim = (int64_t)(head_dim * partial);
  rc.factor = scaled("factor", 1.0);
  rc.low_freq_factor = scaled("low_freq_factor", 1.0);
  rc.high_freq_factor = scaled("high_freq_factor", 4.0);
  // transformers lets a top-level original_max_position_embeddings (Phi-3 style) win over the scaling dict's.
  rc.original_max_position_embeddings = (int64_t)top(
      "original_max_position_embeddings", scaled("original_max_position_embeddings", (double)max_position_embeddings));
  rc.max_position_embeddings = max_position_embeddings;
  // transformers reads these as `value or default`, so 0 also means the default.
  rc.beta_fast = scaled("beta_fast", 0.0);
  rc.beta_slow = scaled("beta_slow", 0.0);
  if (rc.beta_fast == 0) rc.beta_fast = 32.0;
  if (rc.beta_slow == 0) rc.beta_slow = 1.0;
  rc.attention_factor = scaled("attention_factor", -1.0);
  rc.mscale = scaled("mscale", 0.0);
  rc.mscale_all_dim = scaled("mscale_all_dim", 0.0);
  if (scaling.contains("truncate") && scaling["truncate"].is_boolean()) rc.truncate = scaling["truncate"];
  if ((type == "llama3" || type == "yarn") && rc.original_max_position_embeddings <= 0)
    fail(where, ": rope scaling '", type, "' needs a positive original_max_position_embeddings");
  // yarn without a factor: the ratio of the extended to the original context, as transformers derives it.
  if (type == "yarn" && !(scaling.contains("factor") && scaling["factor"].is_number()))
    rc.factor = (double)max_position_embeddings / (double)rc.original_max_position_embeddings;
  if (type != "default" && !(rc.factor > 0))
    fail(where, ": field '", dict, ".factor' (rope scaling factor) must be positive, got ", rc.factor);
  return rc;
}

namespace {

double yarn_mscale(double scale, double mscale) { return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

// Returns inv_freq [rotary_dim/2] and the factor cos/sin are multiplied by.
std::vector<double> inverse_frequencies(const RopeConfig& c, int64_t max_position, double* attention_scale) {
  const int64_t dim = c.rotary_dim, half = dim / 2;
  std::vector<double> inv((size_t)half);
  double base = c.theta;
  *attention_scale = 1.0;
  if (c.rope_type == "dynamic" && max_position > c.max_position_embeddings) {
    // Dynamic NTK for the longest context this table covers. transformers recomputes per sequence length and
    // measures it against max_position_embeddings (it ignores any original_max_position_embeddings here), so
    // within max_position_embeddings dynamic is the default rope; the engine never runs beyond it.
    double seq = (double)max_position;
    base = c.theta * std::pow(c.factor * seq / (double)c.max_position_embeddings - (c.factor - 1),
                              (double)dim / (double)(dim - 2));
  }
  // transformers computes these in f32: 1 / base ** (2i / dim).
  for (int64_t i = 0; i < half; ++i)
    inv[(size_t)i] = 1.0f / std::pow((float)base, (float)(2 * i) / (float)dim);

  if (c.rope_type == "linear") {
    for (auto& f : inv) f /= c.factor;
  } else if (c.rope_type == "llama3") {
    const double old_ctx = (double)c.original_max_position_embeddings;
    const double low_wavelen = old_ctx / c.low_freq_factor, high_wavelen = old_ctx / c.high_freq_factor;
    for (auto& f : inv) {
      double wavelen = 2 * M_PI / f;
      if (wavelen < high_wavelen) continue;
      if (wavelen > low_wavelen) {
        f /= c.factor;
      } else {
        double smooth = (old_ctx / wavelen - c.low_freq_factor) / (c.high_freq_factor - c.low_freq_factor);
        f = (1 - smooth) * f / c.factor + smooth * f;
      }
    }
  } else if (c.rope_type == "yarn") {
    auto correction_dim = [&](double rotations) {
      return (dim * std::log((double)c.original_max_position_embeddings / (rotations * 2 * M_PI))) /
             (2 * std::log(c.theta));
    };
    double low = correction_dim(c.beta_fast), high = correction_dim(c.beta_slow);
    if (c.truncate) {
      low = std::floor(low);
      high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, (double)(dim - 1));
    if (low == high) high += 0.001;
    for (int64_t i = 0; i < half; ++i) {
      double ramp = std::clamp(((double)i - low) / (high - low), 0.0, 1.0);
      double extrapolation = 1.0 - ramp;
      double pos_freq = std::pow(c.theta, (double)(2 * i) / (double)dim);
      inv[(size_t)i] = (1.0 / (c.factor * pos_freq)) * (1 - extrapolation) + (1.0 / pos_freq) * extrapolation;
    }
    if (c.attention_factor >= 0) {
      *attention_scale = c.attention_factor;
    } else if (c.mscale != 0 && c.mscale_all_dim != 0) {
      *attention_scale = yarn_mscale(c.factor, c.mscale) / yarn_mscale(c.factor, c.mscale_all_dim);
    } else {
      *attention_scale = yarn_mscale(c.factor, 1.0);
    }
  }
  for (auto& f : inv) {
    float v = (float)f;
    if (c.inv_freq_dtype == DType::F16) v = f16_to_f32(f32_to_f16(v));
    if (c.inv_freq_dtype == DType::BF16) v = bf16_to_f32(f32_to_bf16(v));
    f = v;
  }
  return inv;
}

}  // namespace

RotaryEmbedding::RotaryEmbedding(const RopeConfig& cfg, int64_t max_position, Device device) {
  if (cfg.rotary_dim <= 0 || cfg.rotary_dim % 2 != 0) fail("rotary dimension must be a positive even number");
  double scale = 1.0;
  std::vector<double> inv = inverse_frequencies(cfg, max_position, &scale);
  const int64_t half = cfg.rotary_dim / 2;
  // Computed state, not a checkpoint weight: kept out of the sleep-mode weights arena, whose contents a
  // level-2 sleep discards (the user reloads only the checkpoint's tensors).
  ArenaScope not_a_weight(nullptr);
  Tensor t = Tensor::empty({max_position, cfg.rotary_dim}, DType::F32);
  float* p = t.data<float>();
  for (int64_t pos = 0; pos < max_position; ++pos) {
    for (int64_t i = 0; i < half; ++i) {
      // transformers computes the angle in f32: inv_freq (f32) * position (f32).
      float angle = (float)inv[(size_t)i] * (float)pos;
      p[pos * cfg.rotary_dim + i] = (float)(std::cos(angle) * scale);
      p[pos * cfg.rotary_dim + half + i] = (float)(std::sin(angle) * scale);
    }
  }
  cos_sin_ = device == Device::CPU ? t : t.to(device);
}

void RotaryEmbedding::apply(Tensor& q, Tensor& k, const Tensor& positions) const {
  ops::rotary(q, k, positions, cos_sin_, kNeoxStyle);
}

}  // namespace shardlm
