// jinja2's built-in filters and tests (jinja_filters.cpp), and the Python methods templates call on str,
// dict and list values (strip, split, startswith, items, get, ...), the attributes of `loop`, and the globals
// transformers gives chat templates: range, dict, namespace, raise_exception, strftime_now, joiner
// (jinja_methods.cpp). Mutating methods (list.append, dict.update, ...) are refused as jinja2's
// ImmutableSandboxedEnvironment refuses them.
#pragma once
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizer/jinja_eval.h"
#include "tokenizer/jinja_value.h"

namespace shardlm::jinja::builtins {

// `value | name(args)`. Fails for an unknown filter.
Value filter(Interpreter& in, const std::string& name, const Value& value, CallArgs& args, int line);
// `value is name(args)`. Fails for an unknown test.
bool test(Interpreter& in, const std::string& name, const Value& value, CallArgs& args, int line);
bool has_filter(const std::string& name);
bool has_test(const std::string& name);

// obj.name where Python finds an attribute of obj's type: a method bound to obj (str/dict/list/range), a
// loop or namespace attribute; an Undefined that refuses a call for unsafe methods; nullopt otherwise.
std::optional<Value> attribute(Interpreter& in, const Value& obj, const std::string& name);

// A global function by name, or nullopt.
std::optional<Value> global(const std::string& name);

// ---- shared by the implementation files (jinja_filters.cpp, jinja_methods.cpp) ----

// Binds call arguments to parameter names as Python does; `what` names the callee in messages.
class Params {
 public:
  Params(std::string what, CallArgs& args, std::initializer_list<const char*> names, bool varargs = false)
      : what_(std::move(what)), values_(names.size()), given_(names.size(), false) {
    std::vector<const char*> n(names);
    for (size_t i = 0; i < args.positional.size(); ++i) {
      if (i < n.size()) {
        values_[i] = args.positional[i];
        given_[i] = true;
      } else if (varargs) {
        rest_.push_back(args.positional[i]);
      } else {
        fail(what_, " takes at most ", n.size(), " argument(s) (", args.positional.size(), " given)");
      }
    }
    for (auto& [key, value] : args.keyword) {
      size_t k = 0;
      while (k < n.size() && key != n[k]) ++k;
      if (k == n.size()) fail(what_, " got an unexpected keyword argument '", key, "'");
      if (given_[k]) fail(what_, " got multiple values for argument '", key, "'");
      values_[k] = value;
      given_[k] = true;
    }
  }
  bool has(size_t i) const { return given_[i]; }
  const Value& operator[](size_t i) const { return values_[i]; }
  Value get(size_t i, Value fallback) const { return given_[i] ? values_[i] : fallback; }
  const std::vector<Value>& rest() const { return rest_; }
  const std::string& what() const { return what_; }

  std::string str(size_t i, const std::string& fallback) const {
    if (!given_[i]) return fallback;
    if (!values_[i].is_string()) fail(what_, ": expected a string, got ", values_[i].type_name());
    return values_[i].str();
  }
  int64_t integer(size_t i, int64_t fallback) const {
    if (!given_[i]) return fallback;
    if (!values_[i].is_int())
      fail(what_, ": '", values_[i].type_name(), "' object cannot be interpreted as an integer");
    return values_[i].as_int();
  }
  bool boolean(size_t i, bool fallback) const { return given_[i] ? values_[i].truthy() : fallback; }

 private:
  std::string what_;
  std::vector<Value> values_;
  std::vector<bool> given_;
  std::vector<Value> rest_;
};

// sep.join(parts), failing past kMaxStringBytes.
std::string join_strings(const std::vector<std::string>& parts, const std::string& sep);
// str.islower() / str.isupper().
bool py_islower(const std::string& s);
bool py_isupper(const std::string& s);

}  // namespace shardlm::jinja::builtins
