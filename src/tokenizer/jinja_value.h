// The values a Jinja chat template computes with, with Python semantics: None, bool, int, float, str, list,
// tuple, dict (insertion-ordered), range, namespace, callables, loop and jinja2's Undefined. str() and repr()
// print the way Python does ("True", "None", "['a', 1]"), comparisons follow Python's rules, and to_json is
// transformers' tojson (json.dumps) byte for byte. Lists and dicts are immutable once built (transformers
// renders in jinja2's ImmutableSandboxedEnvironment); only a namespace changes in place.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/error.h"

namespace shardlm::jinja {

// An Error whose message already says where in the template it happened ("chat template: line 3: ...").
// Plain Errors thrown by value operations get that prefix from the interpreter.
class TemplateError : public Error {
 public:
  using Error::Error;
};

// Limits that keep a hostile template from exhausting memory or the stack. Exceeding one is an Error.
constexpr size_t kMaxStringBytes = size_t{64} << 20;  // one string, and the rendered output
constexpr size_t kMaxItems = size_t{1} << 20;         // one list, dict or materialized range
constexpr int kMaxValueDepth = 512;                   // lists and dicts nested in each other

enum class Kind : uint8_t { Undefined, None, Bool, Int, Float, String, List, Dict, Range, Namespace, Function, Loop };

class Value;
struct ListData;
struct DictData;
struct NamespaceData;
struct FunctionData;
struct LoopData;

struct RangeData {
  int64_t start = 0, stop = 0, step = 1;
  size_t size() const;
  int64_t at(size_t i) const { return start + static_cast<int64_t>(i) * step; }
};

class Value {
 public:
  Value() : i_(0) {}  // Undefined
  static Value undefined(std::string hint = {});
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double f);
  static Value string(std::string s);
  // Fails when the result would nest deeper than kMaxValueDepth or hold more than kMaxItems.
  // `field_names` make a named tuple: its items are also attributes (groupby's grouper and list).
  static Value list(std::vector<Value> items, bool tuple = false, std::vector<std::string> field_names = {});
  static Value dict(DictData d);
  static Value range(RangeData r);
  static Value ns(std::shared_ptr<NamespaceData> n);
  static Value function(std::shared_ptr<const FunctionData> f);
  static Value loop(std::shared_ptr<const LoopData> l);
  // JSON (a render context, tools, messages) to a Value; objects keep their key order.
  static Value from_json(const nlohmann::ordered_json& j);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_int() const { return kind_ == Kind::Int || kind_ == Kind::Bool; }  // Python: bool is an int
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_number() const { return is_int() || kind_ == Kind::Float; }
  bool is_list() const { return kind_ == Kind::List; }  // list or tuple
  bool is_tuple() const;
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_range() const { return kind_ == Kind::Range; }
  bool is_namespace() const { return kind_ == Kind::Namespace; }
  bool is_callable() const { return kind_ == Kind::Function; }
  bool is_loop() const { return kind_ == Kind::Loop; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::Bool ? (b_ ? 1 : 0) : i_; }
  double as_float() const { return kind_ == Kind::Float ? f_ : static_cast<double>(as_int()); }
  const std::string& str() const;
  const std::vector<Value>& items() const;
  std::shared_ptr<const ListData> list_ptr() const;
  const DictData& dict() const;
  const RangeData& range() const;
  NamespaceData& ns() const;
  const FunctionData& function() const;
  const LoopData& loop() const;
  // For an Undefined: what jinja2 says when it is used ("'foo' is undefined").
  std::string undefined_hint() const;
  // Nesting depth (1 for scalars and empty containers).
  int depth() const;

  bool truthy() const;
  // Python's type name: "int", "str", "NoneType", "Undefined", ...
  std::string type_name() const;

 private:
  Kind kind_ = Kind::Undefined;
  union {
    bool b_;
    int64_t i_;
    double f_;
  };
  std::shared_ptr<const void> p_;
};

struct ListData {
  std::vector<Value> items;
  bool tuple = false;
  int depth = 1;
  std::shared_ptr<const std::vector<std::string>> field_names;
};

// An insertion-ordered dict. Keys are Values compared with Python equality; string keys of bigger dicts are
// also hashed.
struct DictData {
  std::vector<std::pair<Value, Value>> entries;
  int depth = 1;
  // The value of `key`, or nullptr.
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  // Sets `key`, replacing the value in place when present (a Python dict keeps the first position).
  void set(Value key, Value value);
  size_t size() const { return entries.size(); }

 private:
  std::unordered_map<std::string, size_t> index_;  // hashable key -> entry, once there are kIndexFrom entries
  static constexpr size_t kIndexFrom = 12;
};

struct NamespaceData {
  DictData attrs;
};

class Interpreter;
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};
struct FunctionData {
  std::string name;  // for messages: "range", "str.strip", "macro 'foo'"
  std::string repr;  // what {{ f }} prints
  Value self;        // the value a bound method belongs to (Undefined for other functions)
  std::function<Value(Interpreter&, CallArgs&, int line)> call;
};

struct LoopData {
  size_t index0 = 0, depth = 1;
  std::shared_ptr<const std::vector<Value>> seq;
};

// Python str(): strings as they are, None as "None", True as "True", lists/dicts as their repr.
std::string to_str(const Value& v);
void append_str(std::string& out, const Value& v);
// Python repr(): strings quoted ('a', "it's"), everything else as to_str.
std::string to_repr(const Value& v);
void append_repr(std::string& out, const Value& v);
// Python repr of a float: shortest round-trip digits, "1.0", "1e+16", "1e-05", "inf", "nan".
std::string float_repr(double f);

// Python ==. Numbers compare by value across int/float/bool; a list never equals a tuple; Undefined equals
// Undefined.
bool equals(const Value& a, const Value& b);
// Python <, or nullopt when the types do not order (the caller raises TypeError).
std::optional<bool> less_than(const Value& a, const Value& b);

// transformers' tojson filter: json.dumps(x, ensure_ascii, indent, separators, sort_keys).
struct JsonOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;                              // the text of one indent level
  std::optional<std::pair<std::string, std::string>> separators;  // item, key
  bool sort_keys = false;
};
// Throws shardlm::Error (a message without position) when json.dumps would raise.
std::string to_json(const Value& v, const JsonOptions& options);

// Fails (shardlm::Error) when `bytes` exceeds kMaxStringBytes; `what` names the operation.
void check_string_size(size_t bytes, const char* what);

}  // namespace shardlm::jinja
