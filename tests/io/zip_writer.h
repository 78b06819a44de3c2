// A tiny zip writer for tests: STORED entries (or a fake compression method number), optional data
// alignment through a padding extra field (as torch.save does), optional zip64 records.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "test_util.h"

namespace shardlm::testing {

struct ZipTestEntry {
  std::string name;
  std::string data;
  uint16_t method = 0;  // 0 = stored; 8 claims deflate (the bytes are left as they are)
};

inline uint32_t crc32_of(const std::string& data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

// `align`: when > 0, each entry's data starts at a multiple of `align` bytes from the file start.
// `zip64`: sizes and offsets go in zip64 extra fields (32-bit slots hold 0xFFFFFFFF) and the archive ends
// with zip64 end-of-central-directory record + locator, as writers do for files over 4 GiB.
inline std::string make_zip(const std::vector<ZipTestEntry>& entries, size_t align = 0, bool zip64 = false) {
  std::string out, central;
  for (const ZipTestEntry& e : entries) {
    const uint64_t local_offset = out.size();
    const uint32_t crc = crc32_of(e.data);
    std::string local_extra;
    if (zip64) {
      put_le(local_extra, 0x0001, 2);
      put_le(local_extra, 16, 2);
      put_le(local_extra, e.data.size(), 8);
      put_le(local_extra, e.data.size(), 8);
    }
    if (align > 0) {
      size_t unpadded = local_offset + 30 + e.name.size() + local_extra.size() + 4;
      size_t pad = (align - unpadded % align) % align;
      put_le(local_extra, 0x4246, 2);  // an application-specific padding field
      put_le(local_extra, pad, 2);
      local_extra.append(pad, 'Z');
    }
    const uint64_t size32 = zip64 ? 0xFFFFFFFFu : e.data.size();
    put_le(out, 0x04034b50, 4);
    put_le(out, zip64 ? 45 : 20, 2);  // version needed
    put_le(out, 0, 2);                // flags
    put_le(out, e.method, 2);
    put_le(out, 0, 4);  // time, date
    put_le(out, crc, 4);
    put_le(out, size32, 4);
    put_le(out, size32, 4);
    put_le(out, e.name.size(), 2);
    put_le(out, local_extra.size(), 2);
    out += e.name;
    out += local_extra;
    out += e.data;

    std::string central_extra;
    if (zip64) {
      put_le(central_extra, 0x0001, 2);
      put_le(central_extra, 24, 2);
      put_le(central_extra, e.data.size(), 8);  // uncompressed
      put_le(central_extra, e.data.size(), 8);  // compressed
      put_le(central_extra, local_offset, 8);
    }
    put_le(central, 0x02014b50, 4);
    put_le(central, zip64 ? 45 : 20, 2);  // version made by
    put_le(central, zip64 ? 45 : 20, 2);  // version needed
    put_le(central, 0, 2);
    put_le(central, e.method, 2);
    put_le(central, 0, 4);
    put_le(central, crc, 4);
    put_le(central, size32, 4);
    put_le(central, size32, 4);
    put_le(central, e.name.size(), 2);
    put_le(central, central_extra.size(), 2);
    put_le(central, 0, 2);  // comment
    put_le(central, 0, 2);  // disk
    put_le(central, 0, 2);  // internal attributes
    put_le(central, 0, 4);  // external attributes
    put_le(central, zip64 ? 0xFFFFFFFFu : local_offset, 4);
    central += e.name;
    central += central_extra;
  }
  const uint64_t cd_offset = out.size();
  out += central;
  if (zip64) {
    const uint64_t z64_offset = out.size();
    put_le(out, 0x06064b50, 4);
    put_le(out, 44, 8);  // size of the rest of this record
    put_le(out, 45, 2);
    put_le(out, 45, 2);
    put_le(out, 0, 4);
    put_le(out, 0, 4);
    put_le(out, entries.size(), 8);
    put_le(out, entries.size(), 8);
    put_le(out, central.size(), 8);
    put_le(out, cd_offset, 8);
    put_le(out, 0x07064b50, 4);
    put_le(out, 0, 4);
    put_le(out, z64_offset, 8);
    put_le(out, 1, 4);
  }
  put_le(out, 0x06054b50, 4);
  put_le(out, 0, 2);
  put_le(out, 0, 2);
  put_le(out, zip64 ? 0xFFFF : entries.size(), 2);
  put_le(out, zip64 ? 0xFFFF : entries.size(), 2);
  put_le(out, zip64 ? 0xFFFFFFFFu : central.size(), 4);
  put_le(out, zip64 ? 0xFFFFFFFFu : cd_offset, 4);
  put_le(out, 0, 2);
  return out;
}

}  // namespace shardlm::testing
