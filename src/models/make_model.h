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
};

struct ModelPreset {
  std::string name, architecture, description;
};
std::vector<ModelPreset> model_presets();

// Writes the folder; Error for an unknown preset (listing the known ones) or an unwritable folder.
void make_random_model(const MakeModelOptions& opts);

}  // namespace shardlm
