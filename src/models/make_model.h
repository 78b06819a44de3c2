// `shardlm make-model`: writes a random-weight Hugging Face checkpoint of a real architecture's shape
// (config.json, generation_config.json, model.safetensors, a byte-level BPE tokenizer.json), so the engine
// and its benchmarks run on machines that cannot download weights.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shardlm {

// Weights larger than this are written only with `force` (--force): a typo in --hidden-size used to fill the
// disk at 2 GB a minute. Llama 3 8B in bfloat16 is 15 GiB; a 32B model is ~61 GiB.
constexpr uint64_t kMakeModelMaxBytesWithoutForce = uint64_t{64} << 30;
// Hard limits, --force or not: each is past any real model's, and the tensors of one layer, or the tokenizer
// covering the vocabulary, are built in memory.
constexpr int64_t kMakeModelMaxLayers = 4096;
constexpr int64_t kMakeModelMaxVocab = int64_t{1} << 22;

struct MakeModelOptions {
  std::string preset;        // see model_presets()
  std::string out_dir;
  std::string dtype;         // "" = the preset's
  uint64_t seed = 0;
  // Overrides of the preset's shape (unset = the preset's); each must be positive, an Error naming its flag
  // otherwise.
  std::optional<int64_t> num_layers, max_position_embeddings;
  std::optional<int64_t> hidden_size, num_heads, num_kv_heads, ffn_dim, vocab_size;
  // Write even when the weights pass kMakeModelMaxBytesWithoutForce (free disk space is still checked).
  bool force = false;
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

// Writes the folder; Error for an unknown preset (listing the known ones), an override that is not positive
// or past its limit (naming the flag), weights past kMakeModelMaxBytesWithoutForce without `force`, less free
// disk space in the output folder than the files need (checked before anything is written), or an unwritable
// folder.
void make_random_model(const MakeModelOptions& opts);

}  // namespace shardlm
