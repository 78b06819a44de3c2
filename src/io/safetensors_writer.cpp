// safetensors writer: header JSON (8-byte length, padded to 8) then each tensor's bytes in order.
#include "io/safetensors_writer.h"

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace shardlm {

namespace {
const char* st_dtype(DType d) {
  switch (d) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::U8: return "U8";
    case DType::F8E4M3: return "F8_E4M3";
  }
  return "?";
}
}  // namespace

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    uint64_t n = 1;
    for (int64_t d : t.shape) n *= (uint64_t)d;
    uint64_t bytes = n * dtype_size(t.dtype);
    header[t.name] = {{"dtype", st_dtype(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h = header.dump();
  while ((h.size() + 8) % 8 != 0) h.push_back(' ');
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), std::fclose);
  if (!f) fail("cannot write '", path, "'");
  uint64_t hl = h.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = (unsigned char)(hl >> (8 * i));
  bool ok = std::fwrite(len, 1, 8, f.get()) == 8 && std::fwrite(h.data(), 1, h.size(), f.get()) == h.size();
  std::vector<char> buf;
  const int64_t chunk = 1 << 22;
  for (const auto& t : tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    const size_t es = dtype_size(t.dtype);
    for (int64_t off = 0; off < n && ok; off += chunk) {
      int64_t m = std::min(chunk, n - off);
      buf.resize((size_t)m * es);
      t.fill(buf.data(), off, m);
      ok = std::fwrite(buf.data(), 1, buf.size(), f.get()) == buf.size();
    }
  }
  if (!ok) fail("failed writing '", path, "' (disk full?)");
}

}  // namespace shardlm
