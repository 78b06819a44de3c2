// Rotary position embeddings with the scaling schemes transformers implements (default, linear, dynamic,
// llama3, yarn), read from either config spelling: v4's `rope_theta` + `rope_scaling`, or v5's
// `rope_parameters`. The cos/sin table is computed once at load for every position up to max_position.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "core/tensor.h"

namespace shardlm {

struct RopeConfig {
  std::string rope_type = "default";
  double theta = 10000.0;
  int64_t rotary_dim = 0;  // head_dim * partial_rotary_factor
  double factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
  int64_t original_max_position_embeddings = 0;         // llama3, yarn
  int64_t max_position_embeddings = 0;                  // dynamic scales only beyond this length
  double beta_fast = 32.0, beta_slow = 1.0;              // yarn
  double attention_factor = -1.0;                        // yarn: < 0 means derive from factor
  double mscale = 0.0, mscale_all_dim = 0.0;             // yarn (deepseek style)
  bool truncate = true;                                  // yarn
  // transformers keeps inv_freq as a module buffer, so loading a checkpoint in its fp16/bf16 dtype rounds the
  // frequencies to that dtype (its golden outputs carry this). We round the same way to reproduce its logits.
  DType inv_freq_dtype = DType::F32;
};

// Reads the rope settings from a config.json object. Error naming `where` and the field for unknown rope types,
// a rope_scaling / rope_parameters that is neither an object nor null, a non-number where a number belongs,
// rope_theta <= 0, partial_rotary_factor outside (0, 1] and a non-positive scaling factor.
RopeConfig parse_rope_config(const nlohmann::json& config, int64_t head_dim, int64_t max_position_embeddings,
                             const std::string& where);

class RotaryEmbedding {
 public:
  RotaryEmbedding() = default;
  RotaryEmbedding(const RopeConfig& cfg, int64_t max_position, Device device);
  // q [T, Hq, D], k [T, Hk, D] rotated in place (rotate-half, as Llama checkpoints in HF layout need).
  void apply(Tensor& q, Tensor& k, const Tensor& positions) const;
  const Tensor& cos_sin() const { return cos_sin_; }
  static constexpr bool kNeoxStyle = true;  // rotate-half pairs (i, i + rot/2), not interleaved ones

 private:
  Tensor cos_sin_;  // [max_position, rotary_dim]: cos in the first half, sin in the second
};

}  // namespace shardlm
