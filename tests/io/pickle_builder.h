// Hand-assembled pickles for tests, opcode by opcode, laid out the way torch.save (protocol 2) writes a
// state dict (compare `python3 -m pickletools` on a real pytorch_model.bin's data.pkl).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/pickle.h"
#include "zip_writer.h"

namespace shardlm::testing {

class PickleBuilder {
 public:
  PickleBuilder& raw(const std::string& s) {
    bytes_ += s;
    return *this;
  }
  PickleBuilder& op(uint8_t code) {
    bytes_.push_back((char)code);
    return *this;
  }
  PickleBuilder& proto(int v) {
    op(0x80);
    bytes_.push_back((char)v);
    return *this;
  }
  PickleBuilder& mark() { return op('('); }
  PickleBuilder& stop() { return op('.'); }
  PickleBuilder& empty_dict() { return op('}'); }
  PickleBuilder& empty_tuple() { return op(')'); }
  PickleBuilder& newfalse() { return op(0x89); }
  PickleBuilder& tuple() { return op('t'); }
  PickleBuilder& reduce() { return op('R'); }
  PickleBuilder& build() { return op('b'); }
  PickleBuilder& setitem() { return op('s'); }
  PickleBuilder& setitems() { return op('u'); }
  PickleBuilder& binpersid() { return op('Q'); }
  PickleBuilder& binput(uint8_t i) {
    op('q');
    bytes_.push_back((char)i);
    return *this;
  }
  PickleBuilder& binget(uint8_t i) {
    op('h');
    bytes_.push_back((char)i);
    return *this;
  }
  PickleBuilder& global(const std::string& module, const std::string& name) {
    op('c');
    bytes_ += module + "\n" + name + "\n";
    return *this;
  }
  PickleBuilder& unicode(const std::string& s) {  // BINUNICODE
    op('X');
    put_le(bytes_, s.size(), 4);
    bytes_ += s;
    return *this;
  }
  PickleBuilder& integer(int64_t v) {  // as pickle chooses: BININT1, BININT2, BININT or LONG1
    if (v >= 0 && v < 256) {
      op('K');
      put_le(bytes_, (uint64_t)v, 1);
    } else if (v >= 0 && v < 65536) {
      op('M');
      put_le(bytes_, (uint64_t)v, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      op('J');
      put_le(bytes_, (uint64_t)(uint32_t)(int32_t)v, 4);
    } else {
      op(0x8a);
      bytes_.push_back(8);
      put_le(bytes_, (uint64_t)v, 8);
    }
    return *this;
  }
  // A tuple of integers, with TUPLE1/2/3 for short ones as pickle does.
  PickleBuilder& int_tuple(const std::vector<int64_t>& values) {
    if (values.empty()) return empty_tuple();
    if (values.size() > 3) mark();
    for (int64_t v : values) integer(v);
    if (values.size() > 3) return tuple();
    return op((uint8_t)(0x84 + values.size()));
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

struct TorchTensorSpec {
  std::string name;
  std::string storage_class;  // "FloatStorage", "HalfStorage", ...
  std::string storage_key;    // the entry <archive>/data/<key>
  int64_t storage_numel;
  int64_t storage_offset;
  std::vector<int64_t> size, stride;
};

// The data.pkl torch.save writes for {name: tensor}: either a plain dict (what transformers' fixture
// shows) or an OrderedDict with the `_metadata` attribute set through BUILD (what state_dict() gives).
inline std::string torch_state_dict_pickle(const std::vector<TorchTensorSpec>& tensors, bool ordered_dict) {
  PickleBuilder p;
  p.proto(2);
  if (ordered_dict) {
    p.global("collections", "OrderedDict").binput(0).empty_tuple().reduce();
  } else {
    p.empty_dict();
  }
  p.binput(1).mark();
  for (const TorchTensorSpec& t : tensors) {
    p.unicode(t.name);
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.mark();
    p.mark().unicode("storage").global("torch", t.storage_class).unicode(t.storage_key).unicode("cpu");
    p.integer(t.storage_numel).tuple().binpersid();
    p.integer(t.storage_offset).int_tuple(t.size).int_tuple(t.stride).newfalse();
    p.global("collections", "OrderedDict").empty_tuple().reduce();  // backward_hooks
    p.tuple().reduce();
  }
  p.setitems();
  if (ordered_dict) {
    // state: {'_metadata': OrderedDict([('', {'version': 1})])}
    p.empty_dict().unicode("_metadata").global("collections", "OrderedDict").empty_tuple().reduce();
    p.unicode("").empty_dict().unicode("version").integer(1).setitem().setitem();
    p.setitem().build();
  }
  return p.stop().bytes();
}

// A torch.save zip: <archive>/data.pkl, byteorder, data/<key> for each storage, version.
inline std::string torch_zip(const std::string& archive, const std::string& pickle,
                             const std::map<std::string, std::string>& storages, size_t align = 64, bool zip64 = false,
                             const std::string& byteorder = "little") {
  std::vector<ZipTestEntry> entries;
  entries.push_back({archive + "/data.pkl", pickle});
  entries.push_back({archive + "/byteorder", byteorder});
  for (const auto& [key, bytes] : storages) entries.push_back({archive + "/data/" + key, bytes});
  entries.push_back({archive + "/version", "3\n"});
  return make_zip(entries, align, zip64);
}

// Hooks that allow nothing: plain data must unpickle without them.
class NoHooks final : public PickleHooks {
 public:
  PickleValue* find_class(PickleArena&, const std::string& module, const std::string& name) override {
    fail("refused global ", module, ".", name);
  }
  PickleValue* persistent_load(PickleArena&, PickleValue*) override { fail("refused persistent id"); }
  PickleValue* reduce(PickleArena&, PickleValue*, PickleValue*) override { fail("refused reduce"); }
  PickleValue* build(PickleArena&, PickleValue*, PickleValue*) override { fail("refused build"); }
};

}  // namespace shardlm::testing
