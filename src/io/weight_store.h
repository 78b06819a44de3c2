// WeightStore: every tensor of one Hugging Face checkpoint folder (safetensors or torch .bin, single or
// sharded), memory-mapped and handed out as zero-copy CPU views. Names are returned exactly as stored.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"

namespace shardlm {

struct WeightInfo {
  DType dtype;
  std::vector<int64_t> shape;
  std::string file;  // path of the file holding the bytes (model_dir + "/" + file name)
};

// All tensors of one checkpoint folder, memory-mapped. Thread-safe for concurrent get().
class WeightStore {
 public:
  virtual ~WeightStore() = default;
  // Opens model_dir: prefers model.safetensors.index.json, then model.safetensors, then
  // pytorch_model.bin.index.json, then pytorch_model.bin. Error names the folder and the files it looked for.
  // Every tensor's header is validated here (dtype, shape, bounds); bytes are not read.
  static std::unique_ptr<WeightStore> open(const std::string& model_dir);
  virtual bool has(const std::string& name) const = 0;
  virtual std::vector<std::string> names() const = 0;  // sorted
  // Error when absent, naming the key and the folder.
  virtual const WeightInfo& info(const std::string& name) const = 0;
  // A zero-copy CPU view of the mapped bytes, dtype as stored (keeps the mapping alive). The memory is
  // mapped read-only: clone() before writing. Only when the bytes are not aligned to the element size
  // (possible in hand-made files) is the tensor an aligned copy instead.
  virtual Tensor get(const std::string& name) const = 0;
};

}  // namespace shardlm
