// Fuzz target: a torch.save zip checkpoint (pytorch_model.bin): the zip directory and local headers, then
// data.pkl through the unpickler with the checkpoint reader's own hooks.
#include "fuzz_input.h"
#include "io/torch_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = shardlm::fuzz::write_input("pytorch_model.bin", data, size);
  return shardlm::fuzz::refuse_only_with_error([&] {
    shardlm::TensorIndex index;
    shardlm::index_torch_zip_file(path, index);
  });
}
