// `shardlm make-model`: writes a random-weight checkpoint of a real architecture's shape.
#include <iostream>
#include <string>

#include "commands.h"
#include "models/make_model.h"

namespace shardlm::cli {

std::function<int()> add_make_model_command(CLI::App& app) {
  auto o = std::make_shared<MakeModelOptions>();
  std::string presets;
  for (const auto& p : model_presets()) presets += "\n  " + p.name + ": " + p.description;
  CLI::App* sub = app.add_subcommand("make-model", "write a random-weight checkpoint; presets:" + presets);
  sub->add_option("--preset", o->preset, "architecture shape")->required();
  sub->add_option("--out", o->out_dir, "output folder")->required();
  sub->add_option("--dtype", o->dtype, "float32, float16, bfloat16 (default: the preset's)");
  sub->add_option("--seed", o->seed, "weights seed")->capture_default_str();
  sub->add_option("--num-layers", o->num_layers, "override the layer count");
  sub->add_option("--max-position-embeddings", o->max_position_embeddings, "override the context length");
  sub->add_option("--hidden-size", o->hidden_size, "override the hidden size");
  sub->add_option("--num-heads", o->num_heads, "override the attention head count");
  sub->add_option("--num-kv-heads", o->num_kv_heads, "override the KV head count (Llama)");
  sub->add_option("--ffn-dim", o->ffn_dim, "override the MLP width");
  sub->add_option("--vocab-size", o->vocab_size, "override the vocabulary size");
  sub->add_flag("--force", o->force,
                "write the weights even when they take more than " +
                    std::to_string(kMakeModelMaxBytesWithoutForce >> 30) + " GiB (free disk space is still checked)");
  sub->add_option("--quantization", o->quantization,
                  "fp8: linear weights in float8_e4m3fn with scales (quantised from the floating weights of the same "
                  "seed)")
      ->check(CLI::IsMember({"fp8"}));
  sub->add_option("--fp8-weight-scales", o->fp8_weight_scales,
                  "tensor or channel (compressed-tensors layout), block (Hugging Face fine-grained FP8)")
      ->capture_default_str()
      ->check(CLI::IsMember({"tensor", "channel", "block"}));
  sub->add_option("--fp8-block-size", o->fp8_block_size, "block edge of --fp8-weight-scales block (vLLM: 128)")
      ->capture_default_str();
  return [o] {
    make_random_model(*o);
    std::cout << "wrote " << o->preset << " to " << o->out_dir << "\n";
    return 0;
  };
}

}  // namespace shardlm::cli
