// TensorIndex helpers shared by the safetensors and torch readers.
#include "io/tensor_index.h"

#include "core/error.h"

namespace shardlm {

void add_stored_tensor(TensorIndex& index, const std::string& name, StoredTensor tensor) {
  auto it = index.find(name);
  if (it != index.end())
    fail("tensor '", name, "' appears twice: in '", it->second.info.file, "' and in '", tensor.info.file, "'");
  index.emplace(name, std::move(tensor));
}

uint64_t checked_nbytes(const std::vector<int64_t>& shape, DType dtype, const std::string& what) {
  // The running product is checked in the order Tensor::numel() multiplies, so that a later zero
  // dimension cannot hide an overflow there.
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) fail(what, ": negative dimension in shape ", shape_to_string(shape));
    if (__builtin_mul_overflow(numel, d, &numel))
      fail(what, ": shape ", shape_to_string(shape), " has too many elements (overflows 64 bits)");
  }
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow((uint64_t)numel, (uint64_t)dtype_size(dtype), &nbytes))
    fail(what, ": shape ", shape_to_string(shape), " is too large (byte size overflows 64 bits)");
  return nbytes;
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace shardlm
