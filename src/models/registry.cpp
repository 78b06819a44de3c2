// Architecture registry: config.json's `architectures[0]` -> the model file that builds it.
#include <map>

#include "core/error.h"
#include "models/model.h"

namespace shardlm {

// One line per architecture file.
std::unique_ptr<Model> create_opt(const ModelConfig&, LoadContext&);
std::unique_ptr<Model> create_llama(const ModelConfig&, LoadContext&);

namespace {
std::map<std::string, ModelFactory>& registry() {
  static std::map<std::string, ModelFactory> r = {
      {"OPTForCausalLM", create_opt},
      {"LlamaForCausalLM", create_llama},
      {"MistralForCausalLM", create_llama},
      {"Qwen2ForCausalLM", create_llama},
      {"Qwen3ForCausalLM", create_llama},
  };
  return r;
}
}  // namespace

std::vector<std::string> supported_architectures() {
  std::vector<std::string> names;
  for (const auto& [k, v] : registry()) names.push_back(k);
  return names;
}

std::unique_ptr<Model> create_model(const ModelConfig& cfg, LoadContext& ctx) {
  auto it = registry().find(cfg.architecture);
  if (it == registry().end()) {
    std::string list;
    for (const auto& n : supported_architectures()) list += (list.empty() ? "" : ", ") + n;
    fail(cfg.model_dir, "/config.json: architecture '", cfg.architecture, "' is not supported (supported: ", list, ")");
  }
  std::unique_ptr<Model> m = it->second(cfg, ctx);
  m->params_ = ctx.parameters();
  return m;
}

}  // namespace shardlm
