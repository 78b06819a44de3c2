// Fuzz target: a .safetensors file (header length, JSON header, dtypes, shapes, data offsets).
#include "fuzz_input.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = shardlm::fuzz::write_input("model.safetensors", data, size);
  return shardlm::fuzz::refuse_only_with_error([&] {
    shardlm::TensorIndex index;
    shardlm::index_safetensors_file(path, index);
  });
}
