// MappedFile: a whole file mapped read-only into memory (mmap), shared by the tensors that view it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace shardlm {

class MappedFile {
 public:
  // Throws shardlm::Error naming the path when it cannot be opened, is not a regular file, or cannot be
  // mapped. An empty file maps to size() == 0 and data() == nullptr.
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
