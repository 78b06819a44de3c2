// ZipReader: the central directory of a zip archive held in a MappedFile (the container torch.save writes).
// Only STORED (uncompressed) entries can be read, which is all torch.save produces; entries stay in the
// mapping. Zip64 archives (end-of-central-directory record and per-entry extra fields) are understood.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "io/mapped_file.h"

namespace shardlm {

struct ZipEntry {
  std::string name;
  uint16_t compression_method = 0;  // 0 = stored; anything else is refused by data_offset()
  uint16_t flags = 0;
  uint64_t compressed_bytes = 0;
  uint64_t uncompressed_bytes = 0;
  uint64_t local_header_offset = 0;
  uint64_t data_start = 0;  // where the entry's bytes begin, after its local header (checked at open)
};

class ZipReader {
 public:
  // Parses the central directory and checks every entry's local header; Error naming the file (and the
  // entry) when it is not a zip archive or is corrupt: two entries with one name, a local header missing or
  // naming another entry, a malformed local extra field, or two entries sharing bytes (aliased entries
  // pointing at one local header, or lengths that run an entry into the next or into the directory).
  explicit ZipReader(std::shared_ptr<const MappedFile> file);

  const std::map<std::string, ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(const std::string& name) const;

  // Offset in the file of the entry's bytes (after its local header), checked to lie inside the file.
  // Error when the entry is compressed or encrypted.
  uint64_t data_offset(const ZipEntry& entry) const;

  const MappedFile& file() const { return *file_; }
  const std::shared_ptr<const MappedFile>& file_ptr() const { return file_; }

 private:
  void read_central_directory();
  void check_local_headers(uint64_t central_directory_offset);
  std::shared_ptr<const MappedFile> file_;
  std::map<std::string, ZipEntry> entries_;
};

}  // namespace shardlm
