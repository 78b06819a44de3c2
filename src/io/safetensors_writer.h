// Writes .safetensors files (used by `shardlm make-model` and tests that build checkpoints).
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace shardlm {

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  // Fills `n` elements starting at element `offset` into `dst` (dtype-sized slots). Called in chunks so
  // multi-gigabyte tensors never need to be in memory at once.
  std::function<void(void* dst, int64_t offset, int64_t n)> fill;
};

// Writes `tensors` in order to `path`; metadata goes into __metadata__. Error naming the path on I/O failure.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace shardlm
