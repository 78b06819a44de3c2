// `shardlm make-model`: writes a random-weight Hugging Face checkpoint of a real architecture's shape
// (config.json, generation_config.json, model.safetensors, a byte-level BPE tokenizer.json), so the engine
// and its benchmarks run on machines that cannot download weights.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace shardlm {

struct MakeModelOptions {
  std::string preset;        // see model_presets()
  std::string out_dir;
  std::string dtype;         // "" = the preset's
  uint64_t seed = 0;
  int num_layers = 0;        // 0 = the preset's
  int max_position_embeddings = 0;
  // Shape overrides (0 = the preset's).
  int hidden_size = 0, num_heads = 0, num_kv_heads = 0, ffn_dim = 0, vocab_size = 0;
  // "fp8": the linear layers' weights (not the embeddings, norms or LM head) in float8_e4m3fn with scales, quantised
  // from exactly the values the floating checkpoint of the same seed holds (layers/fp8_linear.h's rule), so
  // LLM(that checkpoint, quantization="fp8") equals this one with "tensor" scales.
  std::string quantization;
  // "tensor" / "channel": compressed-tensors layout (weight_scale, dynamic per-token activations);
  // "block": Hugging Face fine-grained FP8 (quant_method fp8, weight_scale_inv per fp8_block_size square block).
  std::string fp8_weight_scales = "tensor";
  int fp8_block_size = 128;
};

struct ModelPreset {
  std::string name, architecture, description;
};
std::vector<ModelPreset> model_presets();

// Writes the folder; Error for an unknown preset (listing the known ones) or an unwritable folder.
void make_random_model(const MakeModelOptions& opts);

}  // namespace shardlm
