// safetensors header parsing and validation.
#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "io/json_file.h"

namespace shardlm {

namespace {

constexpr const char* kAcceptedDtypes =
    "F32, F16 or BF16 (F8_E4M3 for FP8 weights; integer buffers I64, I32 and U8 are also accepted)";

DType parse_safetensors_dtype(const nlohmann::json& value, const std::string& where) {
  if (!value.is_string()) fail(where, ": \"dtype\" must be a string, got ", json_excerpt(value));
  const std::string s = value.get<std::string>();
  if (s == "F32") return DType::F32;
  if (s == "F16") return DType::F16;
  if (s == "BF16") return DType::BF16;
  if (s == "I64") return DType::I64;
  if (s == "I32") return DType::I32;
  if (s == "U8") return DType::U8;
  if (s == "F8_E4M3") return DType::F8E4M3;  // FP8 checkpoints (layers/fp8_linear.h)
  static const char* const kKnownUnsupported[] = {
      "F64",     "I8", "I16",     "U16",     "U32",     "U64", "BOOL",
      "F8_E5M2", "F4", "F6_E2M3", "F6_E3M2", "F8_E8M0", "C64", "F8_E4M3FNUZ", "F8_E5M2FNUZ"};
  for (const char* known : kKnownUnsupported)
    if (s == known) fail(where, " has dtype ", s, "; expected ", kAcceptedDtypes);
  fail(where, " has unknown dtype '", s, "'; expected ", kAcceptedDtypes);
}

uint64_t as_non_negative(const nlohmann::json& value, const std::string& where, const char* field) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) return (uint64_t)value.get<int64_t>();
  fail(where, ": \"", field, "\" must hold non-negative integers, got ", json_excerpt(value));
}

std::vector<int64_t> parse_shape(const nlohmann::json& value, const std::string& where) {
  if (!value.is_array()) fail(where, ": \"shape\" must be an array of non-negative integers, got ", json_excerpt(value));
  std::vector<int64_t> shape;
  for (const auto& d : value) {
    uint64_t dim = as_non_negative(d, where, "shape");
    if (dim > (uint64_t)INT64_MAX) fail(where, ": dimension ", dim, " in \"shape\" is too large");
    shape.push_back((int64_t)dim);
  }
  return shape;
}

const nlohmann::json& field(const nlohmann::json& entry, const char* name, const std::string& where) {
  auto it = entry.find(name);
  if (it == entry.end()) fail(where, ": header entry has no \"", name, "\" (expected dtype, shape, data_offsets)");
  return *it;
}

// Two tensors whose data_offsets overlap would load from the same bytes, so at least one of them would get
// the wrong values without a word. The format gives every tensor its own bytes (the safetensors library
// refuses overlaps too), so an overlap means a corrupt or crafted header. Empty tensors occupy no bytes.
template <typename Parsed>
void check_no_shared_bytes(const std::string& path, const std::vector<Parsed>& parsed) {
  std::vector<const Parsed*> by_begin;
  for (const Parsed& p : parsed)
    if (p.end > p.begin) by_begin.push_back(&p);
  std::sort(by_begin.begin(), by_begin.end(), [](const Parsed* a, const Parsed* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  const Parsed* reach = nullptr;  // the tensor ending furthest among those seen
  for (const Parsed* p : by_begin) {
    if (reach && p->begin < reach->end)
      fail(path, ": tensors '", reach->name, "' (data_offsets [", reach->begin, ", ", reach->end, "]) and '", p->name,
           "' (data_offsets [", p->begin, ", ", p->end, "]) share bytes [", p->begin, ", ",
           std::min(reach->end, p->end), "); each tensor must have its own bytes - the file is corrupt");
    if (!reach || p->end > reach->end) reach = p;
  }
}

}  // namespace

void index_safetensors_file(const std::string& path, TensorIndex& index) {
  std::shared_ptr<const MappedFile> file = MappedFile::open(path);
  if (file->size() < 8)
    fail(path, ": file is ", file->size(), " bytes, shorter than the 8-byte safetensors header length");
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | file->data()[i];
  if (!file->contains(8, header_bytes))
    fail(path, ": safetensors header length ", header_bytes, " runs past the end of the file (", file->size(),
         " bytes); the file is truncated or not safetensors");
  const uint64_t data_start = 8 + header_bytes;
  const uint64_t data_bytes = file->size() - data_start;

  nlohmann::json header = parse_json_text(reinterpret_cast<const char*>(file->data() + 8), header_bytes,
                                          str_cat(path, ": safetensors header"));
  if (!header.is_object()) fail(path, ": safetensors header must be a JSON object, got ", header.type_name());

  struct Parsed {
    std::string name;
    uint64_t begin, end;  // data_offsets
    StoredTensor tensor;
  };
  std::vector<Parsed> parsed;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string where = str_cat(path, ": tensor '", name, "'");
    if (!entry.is_object()) fail(where, ": header entry must be an object, got ", json_excerpt(entry));
    StoredTensor tensor;
    tensor.info.dtype = parse_safetensors_dtype(field(entry, "dtype", where), where);
    tensor.info.shape = parse_shape(field(entry, "shape", where), where);
    tensor.info.file = path;
    const nlohmann::json& offsets = field(entry, "data_offsets", where);
    if (!offsets.is_array() || offsets.size() != 2)
      fail(where, ": \"data_offsets\" must be [begin, end], got ", json_excerpt(offsets));
    uint64_t begin = as_non_negative(offsets[0], where, "data_offsets");
    uint64_t end = as_non_negative(offsets[1], where, "data_offsets");
    if (end < begin) fail(where, ": data_offsets [", begin, ", ", end, "] end before they begin");
    if (end > data_bytes)
      fail(where, ": data_offsets [", begin, ", ", end, "] run past the end of the file (the data section holds ",
           data_bytes, " bytes); the file is truncated or corrupt");
    uint64_t expected = checked_nbytes(tensor.info.shape, tensor.info.dtype, where);
    if (end - begin != expected)
      fail(where, ": data_offsets [", begin, ", ", end, "] span ", end - begin, " bytes but dtype ",
           entry["dtype"].get<std::string>(), " with shape ", shape_to_string(tensor.info.shape), " needs ", expected,
           " bytes");
    tensor.file = file;
    tensor.byte_offset = (size_t)(data_start + begin);
    parsed.push_back({name, begin, end, std::move(tensor)});
  }
  check_no_shared_bytes(path, parsed);
  for (Parsed& p : parsed) add_stored_tensor(index, p.name, std::move(p.tensor));
}

}  // namespace shardlm
