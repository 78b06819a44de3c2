// Zip central-directory parsing (APPNOTE.TXT sections 4.3.7, 4.3.12, 4.3.14-16, 4.5.3).
#include "io/zip_reader.h"

#include <algorithm>
#include <vector>

#include "core/error.h"

namespace shardlm {

namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndOfCentralDirSig = 0x06054b50;
constexpr uint32_t kZip64EndOfCentralDirSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr size_t kEndOfCentralDirBytes = 22;
constexpr size_t kCentralHeaderBytes = 46;
constexpr size_t kLocalHeaderBytes = 30;
constexpr size_t kZip64LocatorBytes = 20;
constexpr size_t kZip64EndOfCentralDirBytes = 56;

uint64_t read_le(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

const char* method_name(uint16_t method) {
  switch (method) {
    case 8:
      return "deflate";
    case 9:
      return "deflate64";
    case 12:
      return "bzip2";
    case 14:
      return "lzma";
    case 93:
      return "zstd";
    case 95:
      return "xz";
    default:
      return "unknown";
  }
}

}  // namespace

ZipReader::ZipReader(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) { read_central_directory(); }

const ZipEntry* ZipReader::find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

void ZipReader::read_central_directory() {
  const std::string& path = file_->path();
  const uint8_t* base = file_->data();
  const uint64_t size = file_->size();
  if (size < kEndOfCentralDirBytes)
    fail(path, ": not a zip archive (", size, " bytes, too short for an end-of-central-directory record)");

  // The end record sits at the very end, followed only by a comment of at most 65535 bytes.
  uint64_t eocd = UINT64_MAX;
  uint64_t lowest = size > kEndOfCentralDirBytes + 65535 ? size - kEndOfCentralDirBytes - 65535 : 0;
  for (uint64_t pos = size - kEndOfCentralDirBytes + 1; pos-- > lowest;) {
    if (read_le(base + pos, 4) == kEndOfCentralDirSig &&
        pos + kEndOfCentralDirBytes + read_le(base + pos + 20, 2) <= size) {
      eocd = pos;
      break;
    }
  }
  if (eocd == UINT64_MAX)
    fail(path,
         ": not a zip archive (no end-of-central-directory record); torch.save files from PyTorch "
         "older than 1.6 use a legacy format that is not supported - re-save with a recent torch "
         "or convert to safetensors");

  uint64_t entry_count = read_le(base + eocd + 10, 2);
  uint64_t cd_bytes = read_le(base + eocd + 12, 4);
  uint64_t cd_offset = read_le(base + eocd + 16, 4);

  if (eocd >= kZip64LocatorBytes && read_le(base + eocd - kZip64LocatorBytes, 4) == kZip64LocatorSig) {
    uint64_t z64 = read_le(base + eocd - kZip64LocatorBytes + 8, 8);
    if (!file_->contains(z64, kZip64EndOfCentralDirBytes) || read_le(base + z64, 4) != kZip64EndOfCentralDirSig)
      fail(path, ": corrupt zip64 end-of-central-directory locator (points at offset ", z64, ")");
    entry_count = read_le(base + z64 + 32, 8);
    cd_bytes = read_le(base + z64 + 40, 8);
    cd_offset = read_le(base + z64 + 48, 8);
  }
  if (!file_->contains(cd_offset, cd_bytes))
    fail(path, ": corrupt zip central directory (offset ", cd_offset, ", ", cd_bytes,
         " bytes, past the end of the file of ", size, " bytes)");

  uint64_t pos = cd_offset;
  const uint64_t cd_end = cd_offset + cd_bytes;
  for (uint64_t i = 0; i < entry_count; ++i) {
    if (cd_end - pos < kCentralHeaderBytes || read_le(base + pos, 4) != kCentralHeaderSig)
      fail(path, ": corrupt zip central directory (entry ", i, " of ", entry_count, " at offset ", pos, ")");
    const uint8_t* h = base + pos;
    ZipEntry e;
    e.flags = (uint16_t)read_le(h + 8, 2);
    e.compression_method = (uint16_t)read_le(h + 10, 2);
    e.compressed_bytes = read_le(h + 20, 4);
    e.uncompressed_bytes = read_le(h + 24, 4);
    uint64_t name_len = read_le(h + 28, 2), extra_len = read_le(h + 30, 2), comment_len = read_le(h + 32, 2);
    e.local_header_offset = read_le(h + 42, 4);
    if (cd_end - pos - kCentralHeaderBytes < name_len + extra_len + comment_len)
      fail(path, ": corrupt zip central directory (entry ", i, " runs past the directory)");
    e.name.assign(reinterpret_cast<const char*>(h + kCentralHeaderBytes), name_len);

    // Zip64 extra field: 8-byte values, present only for the fields whose 32-bit slot is 0xFFFFFFFF, in
    // the order uncompressed size, compressed size, local header offset.
    const uint8_t* extra = h + kCentralHeaderBytes + name_len;
    for (uint64_t x = 0; x + 4 <= extra_len;) {
      uint64_t id = read_le(extra + x, 2), len = read_le(extra + x + 2, 2);
      if (x + 4 + len > extra_len) break;
      if (id == kZip64ExtraId) {
        const uint8_t* v = extra + x + 4;
        uint64_t used = 0;
        auto take = [&](uint64_t& slot) {
          if (slot != 0xFFFFFFFFu) return;
          if (used + 8 > len) fail(path, ": corrupt zip64 extra field for entry '", e.name, "'");
          slot = read_le(v + used, 8);
          used += 8;
        };
        take(e.uncompressed_bytes);
        take(e.compressed_bytes);
        take(e.local_header_offset);
      }
      x += 4 + len;
    }
    pos += kCentralHeaderBytes + name_len + extra_len + comment_len;
    std::string name = e.name;
    if (!entries_.emplace(name, std::move(e)).second)
      fail(path, ": corrupt zip archive: two entries are named '", name, "'");
  }
  check_local_headers(cd_offset);
}

// Each entry's local header must sit where the central directory says, carry the same name and a
// well-formed extra field, and the entry [local header, end of its bytes) must not reach into the next
// entry or the central directory: otherwise two names read the same bytes, or one reads another's (Python's
// zipfile refuses "overlapped entries" the same way). A data descriptor may follow an entry's bytes
// (torch.save writes them), so gaps between entries are allowed.
void ZipReader::check_local_headers(uint64_t central_directory_offset) {
  const std::string& path = file_->path();
  const uint8_t* base = file_->data();
  struct Extent {
    uint64_t begin, end;
    const ZipEntry* entry;
  };
  std::vector<Extent> extents;
  extents.reserve(entries_.size());
  for (auto& [name, e] : entries_) {
    if (!file_->contains(e.local_header_offset, kLocalHeaderBytes) ||
        read_le(base + e.local_header_offset, 4) != kLocalHeaderSig)
      fail(path, ": corrupt zip archive (no local header for entry '", name, "' at offset ", e.local_header_offset,
           ")");
    const uint8_t* h = base + e.local_header_offset;
    const uint64_t name_len = read_le(h + 26, 2), extra_len = read_le(h + 28, 2);
    const uint64_t name_at = e.local_header_offset + kLocalHeaderBytes;
    // Two central entries pointing at one local header (aliased entries) fail here: it names one of them.
    if (!file_->contains(name_at, name_len))
      fail(path, ": corrupt zip archive: the local header of entry '", name, "' has a name running past the end of "
           "the file");
    const std::string local_name(reinterpret_cast<const char*>(base + name_at), name_len);
    if (local_name != name)
      fail(path, ": corrupt zip archive: the local header at offset ", e.local_header_offset, " of entry '", name,
           "' names '", local_name.substr(0, 200), "' (entries aliased onto one header, or a corrupt header)");
    const uint64_t extra_at = name_at + name_len;
    if (!file_->contains(extra_at, extra_len))
      fail(path, ": zip entry '", name, "': local extra field runs past the end of the file");
    // The extra field is a sequence of (id, length, data) records; lengths that do not add up exactly
    // mean the header is corrupt, and so would be where the entry's bytes start.
    uint64_t x = 0;
    while (x + 4 <= extra_len) x += 4 + read_le(base + extra_at + x + 2, 2);
    if (x != extra_len)
      fail(path, ": corrupt zip archive: the local header of entry '", name, "' has an extra field of ", extra_len,
           " bytes whose records do not add up to it");
    e.data_start = extra_at + extra_len;
    if (e.compressed_bytes > central_directory_offset || e.data_start > central_directory_offset - e.compressed_bytes)
      fail(path, ": zip entry '", name, "' (", e.compressed_bytes, " bytes at offset ", e.data_start,
           ") runs into the central directory at offset ", central_directory_offset,
           "; the archive is truncated or corrupt");
    extents.push_back({e.local_header_offset, e.data_start + e.compressed_bytes, &e});
  }
  std::sort(extents.begin(), extents.end(), [](const Extent& a, const Extent& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < extents.size(); ++i) {
    const Extent& prev = extents[i - 1];
    const Extent& next = extents[i];
    if (next.begin < prev.end)
      fail(path, ": corrupt zip archive: entry '", prev.entry->name, "' (bytes [", prev.begin, ", ", prev.end,
           ")) overlaps entry '", next.entry->name, "' starting at offset ", next.begin);
  }
}

uint64_t ZipReader::data_offset(const ZipEntry& e) const {
  const std::string& path = file_->path();
  if (e.flags & 1) fail(path, ": zip entry '", e.name, "' is encrypted; expected a plain torch.save archive");
  if (e.compression_method != 0)
    fail(path, ": zip entry '", e.name, "' is compressed (method ", e.compression_method, ", ",
         method_name(e.compression_method),
         "); torch.save writes uncompressed (STORED) entries, which can be "
         "memory-mapped - re-save with torch.save or convert to safetensors");
  if (e.compressed_bytes != e.uncompressed_bytes)
    fail(path, ": zip entry '", e.name, "' is stored but its sizes differ (", e.compressed_bytes, " vs ",
         e.uncompressed_bytes, ")");
  // data_start was found from the local header (whose extra field may differ from the central
  // directory's) and checked to end before the central directory when the archive was opened.
  if (!file_->contains(e.data_start, e.compressed_bytes))
    fail(path, ": zip entry '", e.name, "' (", e.compressed_bytes, " bytes at offset ", e.data_start,
         ") runs past the end of the file (", file_->size(), " bytes); the file is truncated");
  return e.data_start;
}

}  // namespace shardlm
