// safetensors reader: validates a .safetensors header and indexes its tensors without reading their bytes.
//
// Layout: [u64 little-endian N][N bytes of JSON header][data]. The header maps each tensor name to
// {"dtype": "F16", "shape": [..], "data_offsets": [begin, end]}, offsets relative to the data start 8 + N;
// an optional "__metadata__" entry holds string -> string.
#pragma once
#include <string>

#include "io/tensor_index.h"

namespace shardlm {

// Maps `path` and adds each of its tensors to `index`. Any malformed header, unsupported dtype, or offsets
// outside the file is an Error naming the file and (where there is one) the tensor.
void index_safetensors_file(const std::string& path, TensorIndex& index);

}  // namespace shardlm
