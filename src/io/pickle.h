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
// pickles neither leak nor recurse on destruction. It also keeps the estimate of the memory the unpickling
// holds (values, container and stack slots, memo entries, string bytes), which unpickle() bounds.
class PickleArena {
 public:
  // What one value costs: the value and its share of the deque's blocks.
  static constexpr uint64_t kValueBytes = sizeof(PickleValue) + 48;

  PickleValue* make(PickleValue::Kind kind) {
    charge(kValueBytes);
    ++num_values_;
    values_.emplace_back();
    values_.back().kind = kind;
    return &values_.back();
  }
  // Counts `bytes` more against the memory bound (hooks charge what they keep, too).
  void charge(uint64_t bytes) { memory_bytes_ += bytes; }
  uint64_t memory_bytes() const { return memory_bytes_; }
  uint64_t num_values() const { return num_values_; }

 private:
  std::deque<PickleValue> values_;  // deque: addresses stay put as it grows
  uint64_t memory_bytes_ = 0;
  uint64_t num_values_ = 0;
};

// The memory bound of unpickling `pickle_bytes` bytes. Each value a pickle makes costs ~180 bytes here, and
// one byte of pickle can make one ('N', or a 1-tuple of the top), so without a bound a 5 MB pickle held
// 0.9 GB. torch.save state dicts need 35 to 55 bytes per pickle byte (measured on torch 2.x pickles: Llama
// names, 1-character names, rank-6 shapes, Parameters, views of one storage; a 7B model's data.pkl is a few
// hundred KB); the bound allows 96 per byte plus 16 MiB, and more is an Error.
constexpr uint64_t kPickleMemoryPerByte = 96;
constexpr uint64_t kPickleMemoryBaseBytes = uint64_t{16} << 20;
inline uint64_t pickle_memory_limit(size_t pickle_bytes) {
  return kPickleMemoryPerByte * pickle_bytes + kPickleMemoryBaseBytes;
}

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
// opcodes, anything the hooks refuse, and an unpickling whose memory estimate (PickleArena) passes
// `memory_limit_bytes` are Errors prefixed with `what` (say "file.bin: data.pkl").
PickleValue* unpickle(const uint8_t* bytes, size_t size, PickleArena& arena, PickleHooks& hooks,
                      const std::string& what);
PickleValue* unpickle(const uint8_t* bytes, size_t size, PickleArena& arena, PickleHooks& hooks,
                      const std::string& what, uint64_t memory_limit_bytes);

}  // namespace shardlm
