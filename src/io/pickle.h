// A restricted pickle reader: the stack machine of pickle protocols 2-5 over plain values only (None, bool,
// int, float, str, bytes, tuple, list, dict). It executes nothing. GLOBAL, REDUCE, BUILD and persistent ids
// are handed to PickleHooks, which decide what, if anything, they mean and refuse everything else.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

namespace shardlm {

struct PickleValue {
  enum class Kind { None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Global, Object };
  Kind kind = Kind::None;
  bool bool_value = false;
  int64_t int_value = 0;  // Int; for Object, an index into the hooks' own table
  double float_value = 0;
  std::string text;  // String and Bytes contents; Global: the module; Object: a type tag chosen by the hooks
  std::string name;  // Global: the attribute name
  std::vector<PickleValue*> items;                             // Tuple, List
  std::vector<std::pair<PickleValue*, PickleValue*>> entries;  // Dict, insertion order, duplicates kept
};

const char* pickle_kind_name(PickleValue::Kind kind);

// Owns every value of one unpickling. Values refer to each other by raw pointer, so cyclic or deeply nested
// pickles neither leak nor recurse on destruction.
class PickleArena {
 public:
  PickleValue* make(PickleValue::Kind kind) {
    values_.emplace_back();
    values_.back().kind = kind;
    return &values_.back();
  }

 private:
  std::deque<PickleValue> values_;  // deque: addresses stay put as it grows
};

class PickleHooks {
 public:
  virtual ~PickleHooks() = default;
  // GLOBAL / STACK_GLOBAL: a value standing for module.name, or an Error refusing it.
  virtual PickleValue* find_class(PickleArena& arena, const std::string& module, const std::string& name) = 0;
  // BINPERSID: what the persistent id refers to.
  virtual PickleValue* persistent_load(PickleArena& arena, PickleValue* pid) = 0;
  // REDUCE: the result of callable(*args).
  virtual PickleValue* reduce(PickleArena& arena, PickleValue* callable, PickleValue* args) = 0;
  // BUILD: object.__setstate__(state); returns what stays on the stack.
  virtual PickleValue* build(PickleArena& arena, PickleValue* object, PickleValue* state) = 0;
};

// Runs the pickle in [bytes, bytes + size) and returns the value STOP leaves. Malformed input, unsupported
// opcodes and anything the hooks refuse are Errors prefixed with `what` (say "file.bin: data.pkl").
PickleValue* unpickle(const uint8_t* bytes, size_t size, PickleArena& arena, PickleHooks& hooks,
                      const std::string& what);

}  // namespace shardlm
