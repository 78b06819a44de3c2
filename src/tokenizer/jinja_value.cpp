// Jinja values with Python semantics (see jinja_value.h).
#include "tokenizer/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "tokenizer/jinja_pystr.h"

namespace shardlm::jinja {

namespace {

template <typename T>
const T& as(const std::shared_ptr<const void>& p) {
  return *static_cast<const T*>(p.get());
}

int child_depth(const Value& v) { return v.depth(); }

}  // namespace

size_t RangeData::size() const {
  if (step > 0 && start < stop) return static_cast<size_t>((static_cast<__int128>(stop) - start - 1) / step + 1);
  if (step < 0 && start > stop)
    return static_cast<size_t>((static_cast<__int128>(start) - stop - 1) / (-static_cast<__int128>(step)) + 1);
  return 0;
}

Value Value::undefined(std::string hint) {
  Value v;
  if (!hint.empty()) v.p_ = std::make_shared<const std::string>(std::move(hint));
  return v;
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}

Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::Bool;
  v.b_ = b;
  return v;
}

Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::Int;
  v.i_ = i;
  return v;
}

Value Value::number(double f) {
  Value v;
  v.kind_ = Kind::Float;
  v.f_ = f;
  return v;
}

Value Value::string(std::string s) {
  check_string_size(s.size(), "a string");
  Value v;
  v.kind_ = Kind::String;
  v.p_ = std::make_shared<const std::string>(std::move(s));
  return v;
}

Value Value::list(std::vector<Value> items, bool tuple, std::vector<std::string> field_names) {
  if (items.size() > kMaxItems) fail("a list of ", items.size(), " items is more than the ", kMaxItems, " allowed");
  auto data = std::make_shared<ListData>();
  int depth = 0;
  for (const Value& item : items) depth = std::max(depth, child_depth(item));
  data->depth = depth + 1;
  if (data->depth > kMaxValueDepth) fail("lists and dicts nest deeper than ", kMaxValueDepth, " levels");
  data->items = std::move(items);
  data->tuple = tuple;
  if (!field_names.empty())
    data->field_names = std::make_shared<const std::vector<std::string>>(std::move(field_names));
  Value v;
  v.kind_ = Kind::List;
  v.p_ = std::move(data);
  return v;
}

Value Value::dict(DictData d) {
  if (d.entries.size() > kMaxItems)
    fail("a dict of ", d.entries.size(), " items is more than the ", kMaxItems, " allowed");
  int depth = 0;
  for (const auto& [key, value] : d.entries) depth = std::max({depth, child_depth(key), child_depth(value)});
  d.depth = depth + 1;
  if (d.depth > kMaxValueDepth) fail("lists and dicts nest deeper than ", kMaxValueDepth, " levels");
  Value v;
  v.kind_ = Kind::Dict;
  v.p_ = std::make_shared<const DictData>(std::move(d));
  return v;
}

Value Value::range(RangeData r) {
  Value v;
  v.kind_ = Kind::Range;
  v.p_ = std::make_shared<const RangeData>(r);
  return v;
}

Value Value::ns(std::shared_ptr<NamespaceData> n) {
  Value v;
  v.kind_ = Kind::Namespace;
  v.p_ = std::move(n);
  return v;
}

Value Value::function(std::shared_ptr<const FunctionData> f) {
  Value v;
  v.kind_ = Kind::Function;
  v.p_ = std::move(f);
  return v;
}

Value Value::loop(std::shared_ptr<const LoopData> l) {
  Value v;
  v.kind_ = Kind::Loop;
  v.p_ = std::move(l);
  return v;
}

namespace {

Value from_json_at(const nlohmann::ordered_json& j, int depth) {
  if (depth > kMaxValueDepth) fail("the template context nests deeper than ", kMaxValueDepth, " levels");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return Value::none();
    case nlohmann::ordered_json::value_t::boolean:
      return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return Value::integer(static_cast<int64_t>(u));
      return Value::number(static_cast<double>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value::number(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& item : j) items.push_back(from_json_at(item, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      DictData d;
      d.entries.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it)
        d.set(Value::string(it.key()), from_json_at(it.value(), depth + 1));
      return Value::dict(std::move(d));
    }
    default:
      fail("the template context holds binary data, which chat templates cannot use");
  }
}

}  // namespace

Value Value::from_json(const nlohmann::ordered_json& j) { return from_json_at(j, 1); }

bool Value::is_tuple() const { return kind_ == Kind::List && as<ListData>(p_).tuple; }
const std::string& Value::str() const { return as<std::string>(p_); }
const std::vector<Value>& Value::items() const { return as<ListData>(p_).items; }
std::shared_ptr<const ListData> Value::list_ptr() const { return std::static_pointer_cast<const ListData>(p_); }
const DictData& Value::dict() const { return as<DictData>(p_); }
const RangeData& Value::range() const { return as<RangeData>(p_); }
// A namespace is the one mutable value; it is created non-const and only stored behind the const pointer.
NamespaceData& Value::ns() const { return *const_cast<NamespaceData*>(static_cast<const NamespaceData*>(p_.get())); }
const FunctionData& Value::function() const { return as<FunctionData>(p_); }
const LoopData& Value::loop() const { return as<LoopData>(p_); }

std::string Value::undefined_hint() const { return p_ ? as<std::string>(p_) : std::string("undefined value"); }

int Value::depth() const {
  if (kind_ == Kind::List) return as<ListData>(p_).depth;
  if (kind_ == Kind::Dict) return as<DictData>(p_).depth;
  return 1;
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None:
      return false;
    case Kind::Bool:
      return b_;
    case Kind::Int:
      return i_ != 0;
    case Kind::Float:
      return f_ != 0.0;
    case Kind::String:
      return !str().empty();
    case Kind::List:
      return !items().empty();
    case Kind::Dict:
      return dict().size() != 0;
    case Kind::Range:
      return range().size() != 0;
    default:
      return true;
  }
}

std::string Value::type_name() const {
  switch (kind_) {
    case Kind::Undefined:
      return "Undefined";
    case Kind::None:
      return "NoneType";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::String:
      return "str";
    case Kind::List:
      return is_tuple() ? "tuple" : "list";
    case Kind::Dict:
      return "dict";
    case Kind::Range:
      return "range";
    case Kind::Namespace:
      return "Namespace";
    case Kind::Function:
      return "function";
    case Kind::Loop:
      return "LoopContext";
  }
  return "object";
}

namespace {

// A string that equal hashable keys share (Python: 1 == 1.0 == True), or nullopt for a key that can only be
// compared (and looked up linearly).
std::optional<std::string> hash_key(const Value& k) {
  switch (k.kind()) {
    case Kind::String:
      return "s" + k.str();
    case Kind::None:
      return std::string("N");
    case Kind::Undefined:
      return std::string("U");
    case Kind::Bool:
    case Kind::Int:
      return "i" + std::to_string(k.as_int());
    case Kind::Float: {
      const double f = k.as_float();
      if (std::isfinite(f) && std::floor(f) == f && std::fabs(f) < 9.2e18)
        return "i" + std::to_string(static_cast<int64_t>(f));
      return "f" + float_repr(f);
    }
    case Kind::List: {
      if (!k.is_tuple()) return std::nullopt;
      std::string out = "t(";
      for (const Value& item : k.items()) {
        std::optional<std::string> h = hash_key(item);
        if (!h) return std::nullopt;
        out += *h;
        out.push_back('\x1f');
      }
      return out + ")";
    }
    default:
      return std::nullopt;
  }
}

}  // namespace

const Value* DictData::find(std::string_view key) const {
  if (!index_.empty()) {
    std::string h = "s";
    h += key;
    auto it = index_.find(h);
    return it == index_.end() ? nullptr : &entries[it->second].second;
  }
  for (const auto& [k, v] : entries)
    if (k.is_string() && k.str() == key) return &v;
  return nullptr;
}

const Value* DictData::find(const Value& key) const {
  if (key.is_string()) return find(std::string_view(key.str()));
  if (!index_.empty()) {
    if (std::optional<std::string> h = hash_key(key)) {
      auto it = index_.find(*h);
      return it == index_.end() ? nullptr : &entries[it->second].second;
    }
  }
  for (const auto& [k, v] : entries)
    if (equals(k, key)) return &v;
  return nullptr;
}

void DictData::set(Value key, Value value) {
  if (!index_.empty()) {
    if (std::optional<std::string> h = hash_key(key)) {
      auto [it, inserted] = index_.emplace(std::move(*h), entries.size());
      if (!inserted) {
        entries[it->second].second = std::move(value);
      } else {
        entries.emplace_back(std::move(key), std::move(value));
      }
      return;
    }
  }
  for (auto& [k, v] : entries) {
    if (equals(k, key)) {
      v = std::move(value);
      return;
    }
  }
  entries.emplace_back(std::move(key), std::move(value));
  if (entries.size() == kIndexFrom) {
    for (size_t i = 0; i < entries.size(); ++i)
      if (std::optional<std::string> h = hash_key(entries[i].first)) index_.emplace(std::move(*h), i);
  }
}

std::string float_repr(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f < 0 ? "-inf" : "inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string out;
  size_t i = 0;
  if (sci[0] == '-') {
    out.push_back('-');
    i = 1;
  }
  const size_t e_at = sci.find('e');
  std::string digits;
  for (size_t k = i; k < e_at; ++k)
    if (sci[k] != '.') digits.push_back(sci[k]);
  const int exp = std::stoi(sci.substr(e_at + 1));
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      const size_t int_len = static_cast<size_t>(exp) + 1;
      if (digits.size() <= int_len) {
        out += digits;
        out.append(int_len - digits.size(), '0');
        out += ".0";
      } else {
        out += digits.substr(0, int_len);
        out.push_back('.');
        out += digits.substr(int_len);
      }
    } else {
      out += "0.";
      out.append(static_cast<size_t>(-exp - 1), '0');
      out += digits;
    }
    return out;
  }
  out.push_back(digits[0]);
  if (digits.size() > 1) {
    out.push_back('.');
    out += digits.substr(1);
  }
  char e[16];
  std::snprintf(e, sizeof e, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  out += e;
  return out;
}

namespace {

void append_value(std::string& out, const Value& v, bool repr);

void append_items(std::string& out, const std::vector<Value>& items, bool tuple) {
  out.push_back(tuple ? '(' : '[');
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    append_value(out, items[i], true);
  }
  if (tuple && items.size() == 1) out.push_back(',');
  out.push_back(tuple ? ')' : ']');
}

void append_dict(std::string& out, const DictData& d) {
  out.push_back('{');
  bool first = true;
  for (const auto& [k, v] : d.entries) {
    if (!first) out += ", ";
    first = false;
    append_value(out, k, true);
    out += ": ";
    append_value(out, v, true);
  }
  out.push_back('}');
}

void append_value(std::string& out, const Value& v, bool repr) {
  check_string_size(out.size(), "printing a value");
  switch (v.kind()) {
    case Kind::Undefined:
      if (repr) out += "Undefined";
      return;
    case Kind::None:
      out += "None";
      return;
    case Kind::Bool:
      out += v.as_bool() ? "True" : "False";
      return;
    case Kind::Int:
      out += std::to_string(v.as_int());
      return;
    case Kind::Float:
      out += float_repr(v.as_float());
      return;
    case Kind::String:
      if (repr) {
        pystr::append_repr(out, v.str());
      } else {
        out += v.str();
      }
      return;
    case Kind::List:
      append_items(out, v.items(), v.is_tuple());
      return;
    case Kind::Dict:
      append_dict(out, v.dict());
      return;
    case Kind::Range: {
      const RangeData& r = v.range();
      out += "range(" + std::to_string(r.start) + ", " + std::to_string(r.stop);
      if (r.step != 1) out += ", " + std::to_string(r.step);
      out += ")";
      return;
    }
    case Kind::Namespace:
      out += "<Namespace ";
      append_dict(out, v.ns().attrs);
      out += ">";
      return;
    case Kind::Function:
      out += v.function().repr;
      return;
    case Kind::Loop: {
      const LoopData& l = v.loop();
      out += "<LoopContext " + std::to_string(l.index0 + 1) + "/" + std::to_string(l.seq->size()) + ">";
      return;
    }
  }
}

}  // namespace

void append_str(std::string& out, const Value& v) { append_value(out, v, false); }
void append_repr(std::string& out, const Value& v) { append_value(out, v, true); }

std::string to_str(const Value& v) {
  if (v.is_string()) return v.str();
  std::string out;
  append_value(out, v, false);
  return out;
}

std::string to_repr(const Value& v) {
  std::string out;
  append_value(out, v, true);
  return out;
}

namespace {

// The elements of a list or range for comparisons.
bool sequence_equals(const Value& a, const Value& b) {
  auto size_of = [](const Value& v) { return v.is_list() ? v.items().size() : v.range().size(); };
  auto at = [](const Value& v, size_t i) { return v.is_list() ? v.items()[i] : Value::integer(v.range().at(i)); };
  const size_t n = size_of(a);
  if (n != size_of(b)) return false;
  for (size_t i = 0; i < n; ++i)
    if (!equals(at(a, i), at(b, i))) return false;
  return true;
}

}  // namespace

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_float() == b.as_float();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::Undefined:
    case Kind::None:
      return true;
    case Kind::String:
      return a.str() == b.str();
    case Kind::List:
      return a.is_tuple() == b.is_tuple() && sequence_equals(a, b);
    case Kind::Range:
      return sequence_equals(a, b);
    case Kind::Dict: {
      const DictData& x = a.dict();
      const DictData& y = b.dict();
      if (x.size() != y.size()) return false;
      for (const auto& [k, v] : x.entries) {
        const Value* other = y.find(k);
        if (!other || !equals(v, *other)) return false;
      }
      return true;
    }
    case Kind::Namespace:
      return &a.ns() == &b.ns();
    case Kind::Function:
      return &a.function() == &b.function();
    case Kind::Loop:
      return &a.loop() == &b.loop();
    default:
      return false;
  }
}

std::optional<bool> less_than(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_float() < b.as_float();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.str() < b.str();  // UTF-8 byte order is code point order
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    const auto& x = a.items();
    const auto& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (equals(x[i], y[i])) continue;
      return less_than(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  return std::nullopt;
}

void check_string_size(size_t bytes, const char* what) {
  if (bytes > kMaxStringBytes)
    fail(what, " makes a string of ", bytes, " bytes, more than the ", kMaxStringBytes, " a chat template may build");
}

namespace {

void append_json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  static const char* hex = "0123456789abcdef";
  out.push_back('"');
  auto u4 = [&](unsigned v) {
    out += "\\u";
    for (int d = 3; d >= 0; --d) out.push_back(hex[(v >> (4 * d)) & 0xF]);
  };
  if (!ensure_ascii || pystr::is_ascii(s)) {
    for (char ch : s) {
      const unsigned char c = static_cast<unsigned char>(ch);
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c < 0x20) {
            u4(c);
          } else {
            out.push_back(ch);
          }
      }
    }
  } else {
    for (char32_t cp : pystr::decode(s)) {
      if (cp < 0x7F) {
        std::string one(1, static_cast<char>(cp));
        std::string piece;
        append_json_string(piece, one, false);
        out += piece.substr(1, piece.size() - 2);
      } else if (cp < 0x10000) {
        u4(cp);
      } else {
        const char32_t v = cp - 0x10000;
        u4(0xD800 + (v >> 10));
        u4(0xDC00 + (v & 0x3FF));
      }
    }
  }
  out.push_back('"');
}

struct JsonWriter {
  const JsonOptions& opt;
  std::string item_sep, key_sep;
  std::string out;

  void newline(int level) {
    out.push_back('\n');
    for (int i = 0; i < level; ++i) out += *opt.indent;
  }

  std::string key_text(const Value& k) {
    switch (k.kind()) {
      case Kind::String:
        return k.str();
      case Kind::Bool:
        return k.as_bool() ? "true" : "false";
      case Kind::None:
        return "null";
      case Kind::Int:
        return std::to_string(k.as_int());
      case Kind::Float: {
        const double f = k.as_float();
        if (std::isnan(f)) return "NaN";
        if (std::isinf(f)) return f < 0 ? "-Infinity" : "Infinity";
        return float_repr(f);
      }
      default:
        fail("keys must be str, int, float, bool or None, not ", k.type_name());
    }
  }

  void write(const Value& v, int level) {
    check_string_size(out.size(), "tojson");
    switch (v.kind()) {
      case Kind::None:
        out += "null";
        return;
      case Kind::Bool:
        out += v.as_bool() ? "true" : "false";
        return;
      case Kind::Int:
        out += std::to_string(v.as_int());
        return;
      case Kind::Float: {
        const double f = v.as_float();
        if (std::isnan(f)) {
          out += "NaN";
        } else if (std::isinf(f)) {
          out += f < 0 ? "-Infinity" : "Infinity";
        } else {
          out += float_repr(f);
        }
        return;
      }
      case Kind::String:
        append_json_string(out, v.str(), opt.ensure_ascii);
        return;
      case Kind::List: {
        const auto& items = v.items();
        if (items.empty()) {
          out += "[]";
          return;
        }
        out.push_back('[');
        if (opt.indent) newline(level + 1);
        for (size_t i = 0; i < items.size(); ++i) {
          if (i) {
            out += item_sep;
            if (opt.indent) newline(level + 1);
          }
          write(items[i], level + 1);
        }
        if (opt.indent) newline(level);
        out.push_back(']');
        return;
      }
      case Kind::Dict: {
        const DictData& d = v.dict();
        if (d.size() == 0) {
          out += "{}";
          return;
        }
        std::vector<const std::pair<Value, Value>*> entries;
        for (const auto& e : d.entries) entries.push_back(&e);
        if (opt.sort_keys) {
          std::stable_sort(entries.begin(), entries.end(), [](const auto* x, const auto* y) {
            std::optional<bool> lt = less_than(x->first, y->first);
            if (!lt)
              fail("'<' not supported between instances of '", y->first.type_name(), "' and '", x->first.type_name(),
                   "'");
            return *lt;
          });
        }
        out.push_back('{');
        if (opt.indent) newline(level + 1);
        bool first = true;
        for (const auto* e : entries) {
          if (!first) {
            out += item_sep;
            if (opt.indent) newline(level + 1);
          }
          first = false;
          append_json_string(out, key_text(e->first), opt.ensure_ascii);
          out += key_sep;
          write(e->second, level + 1);
        }
        if (opt.indent) newline(level);
        out.push_back('}');
        return;
      }
      default:
        fail("Object of type ", v.type_name(), " is not JSON serializable");
    }
  }
};

}  // namespace

std::string to_json(const Value& v, const JsonOptions& options) {
  JsonWriter w{options, options.indent ? "," : ", ", ": ", {}};
  if (options.separators) {
    w.item_sep = options.separators->first;
    w.key_sep = options.separators->second;
  }
  w.write(v, 0);
  return std::move(w.out);
}

}  // namespace shardlm::jinja
