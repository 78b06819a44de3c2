// Which linear layers hold FP8 weights and how: config.json's `quantization_config` (Hugging Face fine-grained
// FP8, `quant_method: "fp8"`, or `quant_method: "compressed-tensors"` with float8 weights, as vLLM reads them)
// combined with the user's `quantization` option (vLLM's: None, or "fp8" to quantise a bf16/f16/f32
// checkpoint at load time). Anything else is one Error naming the scheme.
//
// Tensor names per quantised linear `<module>` (vLLM's):
//   <module>.weight            [N, K] float8_e4m3fn
//   <module>.weight_scale      per tensor ([] or [1]) or per output channel ([N, 1] or [N]); W = weight * scale
//   <module>.weight_scale_inv  Hugging Face fine-grained FP8: [ceil(N/bn), ceil(K/bk)] per block; despite the
//                              name it multiplies too (W = weight * weight_scale_inv), as in transformers/vLLM
//   <module>.input_scale       static activation scale ([] or [1]): q = x / input_scale
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ops/backend.h"

namespace shardlm {

enum class Fp8WeightScales : uint8_t { PerTensor, PerChannel, Block };
std::string fp8_weight_scales_name(Fp8WeightScales s);  // "per-tensor", "per-channel", "block"

struct QuantConfig {
  bool fp8 = false;         // false: every linear is dense (the default)
  bool serialized = false;  // the checkpoint holds FP8 weights; false: quantise the floating weights at load
  Fp8WeightScales weight_scales = Fp8WeightScales::PerTensor;
  int64_t block_n = 0, block_k = 0;  // Block only
  Fp8ActQuant act = Fp8ActQuant::DynamicPerToken;
  std::string weight_scale_name = "weight_scale";  // or "weight_scale_inv" (fine-grained FP8)
  // Modules left in the checkpoint's floating dtype: exact module names, or "re:<regex>" (compressed-tensors).
  std::vector<std::string> ignore;
  std::string origin;  // for messages: "config.json quantization_config (compressed-tensors)", ...

  // Whether the linear `module` (e.g. "model.layers.0.self_attn.q_proj") holds FP8 weights.
  bool quantizes(const std::string& module) const;
  std::string describe() const;  // one line: scheme, weight scales, activation scheme
};

// The quantisation the engine loads with. `config` is config.json (read from `config_path`), `user` the
// `quantization` option ("" = None). Error naming the field and value for unsupported schemes, and for a
// `user` option that contradicts the checkpoint.
QuantConfig resolve_quant_config(const nlohmann::json& config, const std::string& config_path, const std::string& user);

// The `quantization` option's accepted spellings: "" (None) or "fp8"; Error naming the value otherwise.
std::string parse_quantization_option(const std::string& value);

}  // namespace shardlm
