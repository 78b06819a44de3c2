// MappedFile: a whole file mapped read-only into memory (mmap), shared by the tensors that view it; and
// open_regular_file / read_regular_file, which every reader of a checkpoint or config file goes through.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace shardlm {

// Opens `path` read-only, refusing anything but a regular file (after symlinks) with an Error naming the
// path and what it is instead ("'/m/model.safetensors' is a FIFO (named pipe), not a regular file").
// open(2) of a FIFO blocks until a writer comes, so a FIFO named model.safetensors used to hang the load
// forever; the type is checked with stat(2) before opening, and again with fstat(2) on the descriptor,
// which is opened O_NONBLOCK so that a file swapped for a FIFO in between cannot block either. Returns
// the descriptor (O_CLOEXEC, blocking mode restored); the caller closes it.
int open_regular_file(const std::string& path);

// The whole contents of the regular file `path` (config and tokenizer files), read through
// open_regular_file; Error naming the path when it cannot be opened or read.
std::string read_regular_file(const std::string& path);

class MappedFile {
 public:
  // Throws shardlm::Error naming the path when it cannot be opened, is not a regular file (a FIFO, a
  // directory, a device: see open_regular_file), or cannot be mapped. An empty file maps to size() == 0
  // and data() == nullptr.
  static std::shared_ptr<const MappedFile> open(const std::string& path);

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  // The mapping is PROT_READ: writing through this pointer faults. Copy (Tensor::clone) before mutating.
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_bytes_; }
  const std::string& path() const { return path_; }

  // True when [offset, offset + length) lies inside the file (overflow-safe).
  bool contains(uint64_t offset, uint64_t length) const {
    return offset <= size_bytes_ && length <= size_bytes_ - offset;
  }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_bytes_ = 0;
};

}  // namespace shardlm
