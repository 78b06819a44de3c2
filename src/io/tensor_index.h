// TensorIndex: what every checkpoint reader produces - tensor name -> (mapped file, byte offset, info).
#pragma once
#include <cstddef>
#include <map>
#include <memory>
#include <string>

#include "io/mapped_file.h"
#include "io/weight_store.h"

namespace shardlm {

struct StoredTensor {
  WeightInfo info;
  std::shared_ptr<const MappedFile> file;
  size_t byte_offset = 0;  // from the start of the file; info.shape * dtype_size bytes follow, bounds checked
};

using TensorIndex = std::map<std::string, StoredTensor>;

// Adds one tensor; a name already present (say in two shards) is an Error naming both files.
void add_stored_tensor(TensorIndex& index, const std::string& name, StoredTensor tensor);

// numel * element size with overflow and negative-dimension checks; Error names `what`.
uint64_t checked_nbytes(const std::vector<int64_t>& shape, DType dtype, const std::string& what);

// "[2, 3]" for messages.
std::string shape_to_string(const std::vector<int64_t>& shape);

}  // namespace shardlm
