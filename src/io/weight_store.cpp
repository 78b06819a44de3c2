// WeightStore::open: picks the checkpoint format of a folder, indexes every tensor, serves mapped views.
#include "io/weight_store.h"

#include <cstring>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "io/tensor_index.h"
#include "io/torch_checkpoint.h"

namespace shardlm {

namespace {

namespace fs = std::filesystem;

std::string join_path(const std::string& dir, const std::string& file) {
  return !dir.empty() && dir.back() == '/' ? dir + file : dir + "/" + file;
}

using IndexFileFn = void (*)(const std::string& path, TensorIndex& index);

// A shard name from an index.json must be a plain relative path inside the folder.
void check_shard_name(const std::string& shard, const std::string& index_path) {
  fs::path p(shard);
  bool escapes = shard.empty() || p.is_absolute();
  for (const auto& part : p)
    if (part == "..") escapes = true;
  if (escapes) fail(index_path, ": shard file name '", shard, "' must be a file inside the model folder");
}

// {"metadata": {...}, "weight_map": {tensor name: shard file name}}
TensorIndex index_sharded(const std::string& model_dir, const std::string& index_path, IndexFileFn index_file) {
  nlohmann::json index_json = read_json_file(index_path, "checkpoint index");
  if (!index_json.is_object() || !index_json.contains("weight_map") || !index_json["weight_map"].is_object())
    fail(index_path, ": expected an object with a \"weight_map\" object (tensor name -> shard file)");
  const nlohmann::json& weight_map = index_json["weight_map"];
  std::set<std::string> shards;
  for (const auto& [name, shard] : weight_map.items()) {
    if (!shard.is_string())
      fail(index_path, ": weight_map entry for tensor '", name, "' must be a file name, got ", json_excerpt(shard));
    check_shard_name(shard.get<std::string>(), index_path);
    shards.insert(shard.get<std::string>());
  }
  if (shards.empty()) fail(index_path, ": \"weight_map\" is empty");

  TensorIndex index;
  for (const std::string& shard : shards) index_file(join_path(model_dir, shard), index);
  for (const auto& [name, shard] : weight_map.items()) {
    const std::string shard_path = join_path(model_dir, shard.get<std::string>());
    auto it = index.find(name);
    if (it == index.end())
      fail(index_path, ": tensor '", name, "' is listed in shard '", shard.get<std::string>(),
           "', which does not contain it");
    if (it->second.info.file != shard_path)
      fail(index_path, ": tensor '", name, "' is listed in shard '", shard.get<std::string>(), "' but found in '",
           it->second.info.file, "'");
  }
  return index;
}

class MappedWeightStore final : public WeightStore {
 public:
  MappedWeightStore(std::string model_dir, TensorIndex index)
      : model_dir_(std::move(model_dir)), index_(std::move(index)) {}

  bool has(const std::string& name) const override { return index_.count(name) != 0; }

  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    out.reserve(index_.size());
    for (const auto& [name, tensor] : index_) out.push_back(name);
    return out;
  }

  const WeightInfo& info(const std::string& name) const override { return find(name).info; }

  Tensor get(const std::string& name) const override {
    const StoredTensor& t = find(name);
    const uint8_t* bytes = t.file->data() == nullptr ? nullptr : t.file->data() + t.byte_offset;
    if (bytes == nullptr || reinterpret_cast<uintptr_t>(bytes) % dtype_size(t.info.dtype) != 0) {
      // Typed loads from a misaligned address are undefined behaviour; a copy is aligned.
      Tensor copy = Tensor::empty(t.info.shape, t.info.dtype);
      if (copy.nbytes() > 0) std::memcpy(copy.raw(), bytes, copy.nbytes());
      return copy;
    }
    return Tensor::wrap(bytes, t.info.shape, t.info.dtype, Device::CPU, t.file);
  }

 private:
  const StoredTensor& find(const std::string& name) const {
    auto it = index_.find(name);
    if (it != index_.end()) return it->second;
    std::string hint;
    const std::string kModelPrefix = "model.";
    if (index_.count(kModelPrefix + name)) hint = str_cat(" (but '", kModelPrefix, name, "' is)");
    if (name.rfind(kModelPrefix, 0) == 0 && index_.count(name.substr(kModelPrefix.size())))
      hint = str_cat(" (but '", name.substr(kModelPrefix.size()), "' is)");
    fail("tensor '", name, "' is not in the checkpoint in '", model_dir_, "'", hint, "; it holds ", index_.size(),
         " tensors");
  }

  std::string model_dir_;
  TensorIndex index_;
};

}  // namespace

std::unique_ptr<WeightStore> WeightStore::open(const std::string& model_dir) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) fail("model folder '", model_dir, "' is not a directory");
  struct Candidate {
    const char* file_name;
    bool sharded;
    IndexFileFn index_file;
  };
  static const Candidate kCandidates[] = {
      {"model.safetensors.index.json", true, index_safetensors_file},
      {"model.safetensors", false, index_safetensors_file},
      {"pytorch_model.bin.index.json", true, index_torch_zip_file},
      {"pytorch_model.bin", false, index_torch_zip_file},
  };
  for (const Candidate& c : kCandidates) {
    const std::string path = join_path(model_dir, c.file_name);
    if (!fs::exists(path, ec)) continue;
    TensorIndex index;
    if (c.sharded) {
      index = index_sharded(model_dir, path, c.index_file);
    } else {
      c.index_file(path, index);
    }
    return std::make_unique<MappedWeightStore>(model_dir, std::move(index));
  }
  fail("model folder '", model_dir,
       "' has no weights: looked for model.safetensors.index.json, model.safetensors, "
       "pytorch_model.bin.index.json and pytorch_model.bin");
}

}  // namespace shardlm
