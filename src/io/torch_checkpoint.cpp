// torch.save zip archives: the allow-listed pickle hooks and the walk from the unpickled dict to tensors.
#include "io/torch_checkpoint.h"

#include <optional>

#include "core/error.h"
#include "io/pickle.h"
#include "io/zip_reader.h"

namespace shardlm {

namespace {

using Kind = PickleValue::Kind;

constexpr const char* kStorageTag = "storage";
constexpr const char* kTensorTag = "tensor";
// The largest data.pkl read: about 200,000 tensors' worth. Unpickling memory is bounded in proportion to
// its size (pickle_memory_limit), so this caps that at about 3 GiB.
constexpr uint64_t kMaxDataPklBytes = uint64_t{32} << 20;

// torch.<name> storage classes: the dtype they hold, or nullopt with a name for the message.
struct StorageType {
  const char* class_name;
  std::optional<DType> dtype;
  const char* torch_dtype;
};
constexpr StorageType kStorageTypes[] = {
    {"FloatStorage", DType::F32, "float32"},
    {"HalfStorage", DType::F16, "float16"},
    {"BFloat16Storage", DType::BF16, "bfloat16"},
    {"LongStorage", DType::I64, "int64"},
    {"IntStorage", DType::I32, "int32"},
    {"ByteStorage", DType::U8, "uint8"},
    {"DoubleStorage", std::nullopt, "float64"},
    {"CharStorage", std::nullopt, "int8"},
    {"ShortStorage", std::nullopt, "int16"},
    {"BoolStorage", std::nullopt, "bool"},
    {"ComplexFloatStorage", std::nullopt, "complex64"},
    {"ComplexDoubleStorage", std::nullopt, "complex128"},
    {"Float8_e4m3fnStorage", std::nullopt, "float8_e4m3fn"},
    {"Float8_e5m2Storage", std::nullopt, "float8_e5m2"},
};

const StorageType* find_storage_type(const std::string& class_name) {
  for (const StorageType& t : kStorageTypes)
    if (class_name == t.class_name) return &t;
  return nullptr;
}

struct StorageRef {
  const StorageType* type;
  std::string key;  // the entry <archive>/data/<key>
};

struct TensorRecord {
  int64_t storage_index;
  int64_t storage_offset;  // in elements
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;
};

class TorchPickleHooks final : public PickleHooks {
 public:
  explicit TorchPickleHooks(const std::string& what) : what_(what) {}

  PickleValue* find_class(PickleArena& arena, const std::string& module, const std::string& name) override {
    bool allowed = (module == "collections" && name == "OrderedDict") ||
                   (module == "torch._utils" && (name == "_rebuild_tensor_v2" || name == "_rebuild_parameter" ||
                                                 name == "_rebuild_parameter_with_state")) ||
                   (module == "torch" && find_storage_type(name) != nullptr);
    if (!allowed)
      fail(what_, ": refusing to unpickle global '", module, " ", name,
           "' (only tensors and ordered dicts are allowed)");
    PickleValue* g = arena.make(Kind::Global);
    g->text = module;
    g->name = name;
    return g;
  }

  // ('storage', torch.HalfStorage, '0', 'cpu', numel)
  PickleValue* persistent_load(PickleArena& arena, PickleValue* pid) override {
    const auto& f = pid->items;
    if (pid->kind != Kind::Tuple || f.size() != 5 || f[0]->kind != Kind::String || f[0]->text != "storage" ||
        f[1]->kind != Kind::Global || f[1]->text != "torch" || !find_storage_type(f[1]->name) ||
        f[2]->kind != Kind::String)
      fail(what_, ": unexpected persistent id (expected ('storage', torch.<Type>Storage, key, location, numel))");
    storages_.push_back({find_storage_type(f[1]->name), f[2]->text});
    arena.charge(sizeof(StorageRef) + f[2]->text.size());
    return make_object(arena, kStorageTag, (int64_t)storages_.size() - 1);
  }

  PickleValue* reduce(PickleArena& arena, PickleValue* callable, PickleValue* args) override {
    if (callable->kind != Kind::Global)
      fail(what_, ": REDUCE of a ", pickle_kind_name(callable->kind), " is not allowed");
    const std::string& fn = callable->name;
    const auto& a = args->items;
    if (fn == "OrderedDict") {
      if (!a.empty()) fail(what_, ": OrderedDict(...) with arguments is not supported");
      return arena.make(Kind::Dict);
    }
    if (fn == "_rebuild_tensor_v2") {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (a.size() < 4 || a.size() > 7 || !is_object(a[0], kStorageTag) || a[1]->kind != Kind::Int)
        fail(what_, ": _rebuild_tensor_v2 expects (storage, storage_offset, size, stride, ...)");
      TensorRecord t;
      t.storage_index = a[0]->int_value;
      t.storage_offset = a[1]->int_value;
      t.shape = int_sequence(a[2], "size");
      t.stride = int_sequence(a[3], "stride");
      if (t.shape.size() != t.stride.size())
        fail(what_, ": _rebuild_tensor_v2 has ", t.shape.size(), " sizes but ", t.stride.size(), " strides");
      arena.charge(sizeof(TensorRecord) + (t.shape.size() + t.stride.size()) * sizeof(int64_t));
      tensors_.push_back(std::move(t));
      return make_object(arena, kTensorTag, (int64_t)tensors_.size() - 1);
    }
    if (fn == "_rebuild_parameter" || fn == "_rebuild_parameter_with_state") {
      // (data, requires_grad, backward_hooks[, state]): the parameter is its data tensor.
      if (a.empty() || !is_object(a[0], kTensorTag)) fail(what_, ": ", fn, " expects a tensor as first argument");
      return a[0];
    }
    fail(what_, ": calling '", callable->text, " ", fn, "' is not allowed");
  }

  // state_dict() is an OrderedDict carrying a `_metadata` attribute, pickled as BUILD; the attribute is
  // of no use here.
  PickleValue* build(PickleArena&, PickleValue* object, PickleValue*) override {
    if (object->kind != Kind::Dict) fail(what_, ": BUILD on a ", pickle_kind_name(object->kind), " is not allowed");
    return object;
  }

  const std::vector<StorageRef>& storages() const { return storages_; }
  const std::vector<TensorRecord>& tensors() const { return tensors_; }

 private:
  static bool is_object(const PickleValue* v, const char* tag) { return v->kind == Kind::Object && v->text == tag; }
  static PickleValue* make_object(PickleArena& arena, const char* tag, int64_t index) {
    PickleValue* o = arena.make(Kind::Object);
    o->text = tag;
    o->int_value = index;
    return o;
  }
  std::vector<int64_t> int_sequence(const PickleValue* v, const char* what) const {
    if (v->kind != Kind::Tuple && v->kind != Kind::List)
      fail(what_, ": tensor ", what, " must be a tuple of integers, got a ", pickle_kind_name(v->kind));
    std::vector<int64_t> out;
    for (const PickleValue* item : v->items) {
      if (item->kind != Kind::Int) fail(what_, ": tensor ", what, " must be a tuple of integers");
      out.push_back(item->int_value);
    }
    return out;
  }

  const std::string& what_;
  std::vector<StorageRef> storages_;
  std::vector<TensorRecord> tensors_;
};

// Row-major contiguity as torch defines it: dimensions of size 1 may carry any stride.
bool is_row_major(const std::vector<int64_t>& shape, const std::vector<int64_t>& stride) {
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 0) return true;
    if (shape[i] != 1 && stride[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

std::string find_archive_prefix(const ZipReader& zip) {
  std::string prefix;
  for (const auto& [name, entry] : zip.entries()) {
    size_t slash = name.find('/');
    if (slash == std::string::npos || name.compare(slash, std::string::npos, "/data.pkl") != 0) continue;
    if (!prefix.empty())
      fail(zip.file().path(), ": zip archive has more than one '<archive>/data.pkl' ('", prefix, "/data.pkl' and '",
           name, "'); expected one torch.save archive");
    prefix = name.substr(0, slash);
  }
  if (prefix.empty())
    fail(zip.file().path(), ": zip archive has no '<archive>/data.pkl' entry; is this a torch.save file?");
  return prefix;
}

StoredTensor locate_tensor(const std::string& name, const TensorRecord& t, const StorageRef& storage,
                           const ZipReader& zip, const std::string& prefix) {
  const std::string& path = zip.file().path();
  const std::string where = str_cat(path, ": tensor '", name, "'");
  if (!storage.type->dtype)
    fail(where, " has dtype ", storage.type->torch_dtype, " (torch.", storage.type->class_name,
         "); expected F32, F16 or BF16 (integer buffers I64, I32 and U8 are also accepted)");
  StoredTensor out;
  out.info.dtype = *storage.type->dtype;
  out.info.shape = t.shape;
  out.info.file = path;
  out.file = zip.file_ptr();
  const uint64_t nbytes = checked_nbytes(t.shape, out.info.dtype, where);
  if (!is_row_major(t.shape, t.stride))
    fail(where, " has shape ", shape_to_string(t.shape), " with strides ", shape_to_string(t.stride),
         ", which is not contiguous (row-major); save tensors made .contiguous()");
  const std::string entry_name = prefix + "/data/" + storage.key;
  const ZipEntry* entry = zip.find(entry_name);
  if (!entry) fail(where, ": its storage entry '", entry_name, "' is missing from the archive");
  const uint64_t start = zip.data_offset(*entry);
  uint64_t offset_bytes = 0;
  if (t.storage_offset < 0 ||
      __builtin_mul_overflow((uint64_t)t.storage_offset, (uint64_t)dtype_size(out.info.dtype), &offset_bytes) ||
      offset_bytes > entry->uncompressed_bytes || nbytes > entry->uncompressed_bytes - offset_bytes)
    fail(where, " (shape ", shape_to_string(t.shape), ", storage offset ", t.storage_offset, " elements of ",
         dtype_size(out.info.dtype), " bytes) does not fit its storage '", entry_name, "' of ",
         entry->uncompressed_bytes, " bytes");
  out.byte_offset = (size_t)(start + offset_bytes);
  return out;
}

void check_byte_order(const ZipReader& zip, const std::string& prefix) {
  const ZipEntry* entry = zip.find(prefix + "/byteorder");
  if (!entry) return;  // archives before torch 1.12 have none and are little-endian
  uint64_t start = zip.data_offset(*entry);
  std::string order(reinterpret_cast<const char*>(zip.file().data() + start), (size_t)entry->uncompressed_bytes);
  if (order != "little")
    fail(zip.file().path(), ": tensors are stored '", order, "'-endian; only little-endian checkpoints are supported");
}

}  // namespace

void index_torch_zip_file(const std::string& path, TensorIndex& index) {
  ZipReader zip(MappedFile::open(path));
  const std::string prefix = find_archive_prefix(zip);
  check_byte_order(zip, prefix);
  const ZipEntry& pickle_entry = *zip.find(prefix + "/data.pkl");
  const uint64_t pickle_start = zip.data_offset(pickle_entry);
  if (pickle_entry.uncompressed_bytes > kMaxDataPklBytes)
    fail(path, ": ", pickle_entry.name, " is ", pickle_entry.uncompressed_bytes, " bytes, more than the ",
         kMaxDataPklBytes >> 20, " MiB accepted: torch.save writes about 120 bytes per tensor (a 7B model's "
         "is a few hundred KB), so this is not a state dict of weights; convert it to safetensors");

  const std::string what = str_cat(path, ": ", pickle_entry.name);
  TorchPickleHooks hooks(path);
  PickleArena arena;
  PickleValue* root =
      unpickle(zip.file().data() + pickle_start, (size_t)pickle_entry.uncompressed_bytes, arena, hooks, what);
  if (root->kind != Kind::Dict)
    fail(what, ": expected a dict of tensors (a state dict) at the top level, found a ", pickle_kind_name(root->kind));

  TensorIndex file_tensors;  // a repeated key within one dict: the last one wins, as in Python
  for (const auto& [key, value] : root->entries) {
    // Non-tensor entries (a step counter, say) are not weights; the model loader reports missing names.
    if (key->kind != Kind::String || value->kind != Kind::Object || value->text != kTensorTag) continue;
    const TensorRecord& t = hooks.tensors()[(size_t)value->int_value];
    const StorageRef& storage = hooks.storages()[(size_t)t.storage_index];
    file_tensors.insert_or_assign(key->text, locate_tensor(key->text, t, storage, zip, prefix));
  }
  for (auto& [name, tensor] : file_tensors) add_stored_tensor(index, name, std::move(tensor));
}

}  // namespace shardlm
