// Reader for the zip archives torch.save writes (pytorch_model.bin): <archive>/data.pkl holds a pickled
// dict name -> tensor whose storages are the entries <archive>/data/<key>, stored uncompressed.
//
// data.pkl is read by a restricted unpickler that accepts only these globals:
//   collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter(_with_state),
//   torch.<Type>Storage (the storage types named in persistent ids: ('storage', torch.HalfStorage, key,
//   location, numel)).
// Anything else is refused before it could mean anything; nothing is ever executed.
#pragma once
#include <string>

#include "io/tensor_index.h"

namespace shardlm {

// Maps `path` and adds each tensor of its top-level dict to `index` (entries that are not tensors are
// skipped). Tensors must be contiguous and little-endian; dtype F32, F16 or BF16 (I64, I32, U8 accepted).
void index_torch_zip_file(const std::string& path, TensorIndex& index);

}  // namespace shardlm
