// Python operators on jinja values (see jinja_ops.h).
#include "tokenizer/jinja_ops.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "tokenizer/jinja_pystr.h"

namespace shardlm::jinja::ops {

namespace {

std::string quoted_type(const Value& v) { return "'" + v.type_name() + "'"; }

[[noreturn]] void unsupported(const char* op, const Value& a, const Value& b) {
  fail("unsupported operand type(s) for ", op, ": ", quoted_type(a), " and ", quoted_type(b));
}

[[noreturn]] void overflow() {
  fail("integer overflow (Python integers are unbounded; chat templates compute with 64 bits)");
}

int64_t checked_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) overflow();
  return r;
}
int64_t checked_sub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) overflow();
  return r;
}
int64_t checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) overflow();
  return r;
}

int64_t floor_div(int64_t a, int64_t b) {
  if (b == 0) fail("integer division or modulo by zero");
  if (a == INT64_MIN && b == -1) overflow();
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t py_mod(int64_t a, int64_t b) {
  if (b == 0) fail("integer division or modulo by zero");
  if (b == -1) return 0;
  int64_t m = a % b;
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

// Python's float floor division and modulo (floatobject.c's float_divmod).
void float_divmod(double vx, double wx, double& div_out, double& mod_out) {
  double mod = std::fmod(vx, wx);
  double div = (vx - mod) / wx;
  if (mod != 0) {
    if ((wx < 0) != (mod < 0)) {
      mod += wx;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, wx);
  }
  double floordiv;
  if (div != 0) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, vx / wx);
  }
  div_out = floordiv;
  mod_out = mod;
}

Value repeat(const Value& seq, int64_t times) {
  if (times < 0) times = 0;
  if (seq.is_string()) {
    const std::string& s = seq.str();
    if (s.empty() || times == 0) return Value::string("");
    if (static_cast<uint64_t>(times) > kMaxStringBytes / s.size() + 1)
      check_string_size(kMaxStringBytes + 1, "string repetition");
    check_string_size(s.size() * static_cast<size_t>(times), "string repetition");
    const size_t total = s.size() * static_cast<size_t>(times);
    std::string out;
    if (s.size() == 1) {
      out.assign(total, s[0]);
    } else {
      out.reserve(total);
      out = s;
      while (out.size() * 2 <= total) out += out;  // doubling
      out.append(out, 0, total - out.size());
    }
    return Value::string(std::move(out));
  }
  const auto& items = seq.items();
  if (!items.empty() && static_cast<uint64_t>(times) > kMaxItems / items.size() + 1)
    fail("list repetition makes more than ", kMaxItems, " items");
  std::vector<Value> out;
  if (!items.empty()) {
    if (items.size() * static_cast<size_t>(times) > kMaxItems)
      fail("list repetition makes more than ", kMaxItems, " items");
    out.reserve(items.size() * static_cast<size_t>(times));
    for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
  }
  return Value::list(std::move(out), seq.is_tuple());
}

}  // namespace

void fail_undefined(const Value& v) { fail(v.undefined_hint()); }

Value binary(BinOp op, const Value& a, const Value& b) {
  // str % x is Python's formatting, which only prints an Undefined (as "").
  if (op == BinOp::Mod && a.is_string()) return Value::string(percent_format(a.str(), b));
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  const bool ints = a.is_int() && b.is_int();
  const bool nums = a.is_number() && b.is_number();
  switch (op) {
    case BinOp::Add:
      if (ints) return Value::integer(checked_add(a.as_int(), b.as_int()));
      if (nums) return Value::number(a.as_float() + b.as_float());
      if (a.is_string()) {
        if (!b.is_string()) fail("can only concatenate str (not \"", b.type_name(), "\") to str");
        check_string_size(a.str().size() + b.str().size(), "string concatenation");
        return Value::string(a.str() + b.str());
      }
      if (a.is_list() && b.is_list()) {
        if (a.is_tuple() != b.is_tuple())
          fail("can only concatenate ", a.type_name(), " (not \"", b.type_name(), "\") to ", a.type_name());
        std::vector<Value> items = a.items();
        items.insert(items.end(), b.items().begin(), b.items().end());
        return Value::list(std::move(items), a.is_tuple());
      }
      if (a.is_list() && !a.is_tuple()) fail("can only concatenate list (not \"", b.type_name(), "\") to list");
      unsupported("+", a, b);
    case BinOp::Sub:
      if (ints) return Value::integer(checked_sub(a.as_int(), b.as_int()));
      if (nums) return Value::number(a.as_float() - b.as_float());
      unsupported("-", a, b);
    case BinOp::Mul:
      if (ints) return Value::integer(checked_mul(a.as_int(), b.as_int()));
      if (nums) return Value::number(a.as_float() * b.as_float());
      if ((a.is_string() || a.is_list()) && b.is_int()) return repeat(a, b.as_int());
      if (a.is_int() && (b.is_string() || b.is_list())) return repeat(b, a.as_int());
      if ((a.is_string() || a.is_list()) && b.is_number())
        fail("can't multiply sequence by non-int of type ", quoted_type(b));
      if ((b.is_string() || b.is_list()) && a.is_number())
        fail("can't multiply sequence by non-int of type ", quoted_type(a));
      unsupported("*", a, b);
    case BinOp::Div:
      if (nums) {
        if (b.as_float() == 0) fail("division by zero");
        return Value::number(a.as_float() / b.as_float());
      }
      unsupported("/", a, b);
    case BinOp::FloorDiv:
      if (ints) return Value::integer(floor_div(a.as_int(), b.as_int()));
      if (nums) {
        if (b.as_float() == 0) fail("float floor division by zero");
        double d, m;
        float_divmod(a.as_float(), b.as_float(), d, m);
        return Value::number(d);
      }
      unsupported("//", a, b);
    case BinOp::Mod:
      if (ints) return Value::integer(py_mod(a.as_int(), b.as_int()));
      if (nums) {
        if (b.as_float() == 0) fail("float modulo");
        double d, m;
        float_divmod(a.as_float(), b.as_float(), d, m);
        return Value::number(m);
      }
      if (a.is_string()) return Value::string(percent_format(a.str(), b));
      unsupported("%", a, b);
    case BinOp::Pow:
      if (ints && b.as_int() >= 0) {
        int64_t base = a.as_int(), e = b.as_int(), r = 1;
        while (e > 0) {
          if (e & 1) r = checked_mul(r, base);
          e >>= 1;
          if (e > 0) base = checked_mul(base, base);
        }
        return Value::integer(r);
      }
      if (nums) {
        const double x = a.as_float(), y = b.as_float();
        if (x == 0 && y < 0) fail("0.0 cannot be raised to a negative power");
        if (x < 0 && std::floor(y) != y)
          fail("a negative number to a fractional power is complex, which chat templates do not support");
        return Value::number(std::pow(x, y));
      }
      unsupported("** or pow()", a, b);
  }
  fail("unknown operator");
}

Value negate(const Value& v) {
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_int()) {
    if (v.as_int() == INT64_MIN) overflow();
    return Value::integer(-v.as_int());
  }
  if (v.is_float()) return Value::number(-v.as_float());
  fail("bad operand type for unary -: ", quoted_type(v));
}

Value positive(const Value& v) {
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_int()) return Value::integer(v.as_int());
  if (v.is_float()) return v;
  fail("bad operand type for unary +: ", quoted_type(v));
}

namespace {

bool ordered_less(const Value& a, const Value& b, const char* op) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  std::optional<bool> lt = less_than(a, b);
  if (!lt) fail("'", op, "' not supported between instances of ", quoted_type(a), " and ", quoted_type(b));
  return *lt;
}

}  // namespace

bool compare(CmpOp op, const Value& a, const Value& b) {
  switch (op) {
    case CmpOp::Eq:
      return equals(a, b);
    case CmpOp::Ne:
      return !equals(a, b);
    case CmpOp::Lt:
      return ordered_less(a, b, "<");
    case CmpOp::Gt:
      return ordered_less(b, a, ">");
    case CmpOp::Le: {
      if (a.is_number() && b.is_number())
        return a.is_float() || b.is_float() ? a.as_float() <= b.as_float() : a.as_int() <= b.as_int();
      return ordered_less(a, b, "<=") || equals(a, b);
    }
    case CmpOp::Ge: {
      if (a.is_number() && b.is_number())
        return a.is_float() || b.is_float() ? a.as_float() >= b.as_float() : a.as_int() >= b.as_int();
      return ordered_less(b, a, ">=") || equals(a, b);
    }
    case CmpOp::In:
      return contains(b, a);
    case CmpOp::NotIn:
      return !contains(b, a);
  }
  return false;
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Kind::Undefined:
      return false;
    case Kind::String:
      if (!item.is_string()) fail("'in <string>' requires string as left operand, not ", item.type_name());
      return container.str().find(item.str()) != std::string::npos;
    case Kind::List:
      for (const Value& v : container.items())
        if (equals(v, item)) return true;
      return false;
    case Kind::Dict:
      if (item.is_list() && !item.is_tuple()) fail("unhashable type: 'list'");
      if (item.is_dict()) fail("unhashable type: 'dict'");
      return container.dict().find(item) != nullptr;
    case Kind::Range: {
      if (!item.is_number()) return false;
      const RangeData& r = container.range();
      const double x = item.as_float();
      if (std::floor(x) != x) return false;
      const int64_t v = item.is_int() ? item.as_int() : static_cast<int64_t>(x);
      if (r.step > 0 ? (v < r.start || v >= r.stop) : (v > r.start || v <= r.stop)) return false;
      return (v - r.start) % r.step == 0;
    }
    default:
      fail("argument of type ", quoted_type(container), " is not iterable");
  }
}

std::vector<Value> iterate(const Value& v) {
  std::vector<Value> out;
  switch (v.kind()) {
    case Kind::Undefined:
      return out;
    case Kind::List:
      return v.items();
    case Kind::String: {
      const std::string& s = v.str();
      if (pystr::is_ascii(s)) {
        out.reserve(s.size());
        for (char c : s) out.push_back(Value::string(std::string(1, c)));
      } else {
        for (char32_t cp : pystr::decode(s)) {
          std::string one;
          pystr::append_cp(one, cp);
          out.push_back(Value::string(std::move(one)));
        }
      }
      return out;
    }
    case Kind::Dict:
      out.reserve(v.dict().size());
      for (const auto& [k, value] : v.dict().entries) out.push_back(k);
      return out;
    case Kind::Range: {
      const RangeData& r = v.range();
      const size_t n = r.size();
      if (n > kMaxItems) fail("a range of ", n, " numbers is more than the ", kMaxItems, " a chat template may use");
      out.reserve(n);
      for (size_t i = 0; i < n; ++i) out.push_back(Value::integer(r.at(i)));
      return out;
    }
    default:
      fail(quoted_type(v), " object is not iterable");
  }
}

std::optional<size_t> length(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined:
      return 0;
    case Kind::String:
      return pystr::length(v.str());
    case Kind::List:
      return v.items().size();
    case Kind::Dict:
      return v.dict().size();
    case Kind::Range:
      return v.range().size();
    case Kind::Namespace:
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

namespace {

// Python index normalization; nullopt when out of range.
std::optional<size_t> normalize_index(int64_t i, size_t n) {
  if (i < 0) i += static_cast<int64_t>(n);
  if (i < 0 || static_cast<uint64_t>(i) >= n) return std::nullopt;
  return static_cast<size_t>(i);
}

}  // namespace

std::optional<Value> item(const Value& obj, const Value& key) {
  switch (obj.kind()) {
    case Kind::Undefined:
      fail_undefined(obj);
    case Kind::Dict:
      if (key.is_list() || key.is_dict()) return std::nullopt;
      if (const Value* v = obj.dict().find(key)) return *v;
      return std::nullopt;
    case Kind::List: {
      if (!key.is_int()) return std::nullopt;
      auto i = normalize_index(key.as_int(), obj.items().size());
      if (!i) return std::nullopt;
      return obj.items()[*i];
    }
    case Kind::String: {
      if (!key.is_int()) return std::nullopt;
      const std::string& s = obj.str();
      if (pystr::is_ascii(s)) {
        auto i = normalize_index(key.as_int(), s.size());
        if (!i) return std::nullopt;
        return Value::string(std::string(1, s[*i]));
      }
      std::vector<char32_t> cps = pystr::decode(s);
      auto i = normalize_index(key.as_int(), cps.size());
      if (!i) return std::nullopt;
      return Value::string(pystr::encode(cps, *i, *i + 1));
    }
    case Kind::Range: {
      if (!key.is_int()) return std::nullopt;
      auto i = normalize_index(key.as_int(), obj.range().size());
      if (!i) return std::nullopt;
      return Value::integer(obj.range().at(*i));
    }
    case Kind::Namespace:
      if (const Value* v = obj.ns().attrs.find(key)) return *v;
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

Value missing(const Value& obj, const Value& key) {
  if (obj.is_none()) {
    if (key.is_string()) return Value::undefined("'None' has no attribute " + to_repr(key));
    return Value::undefined("None has no element " + to_repr(key));
  }
  const std::string type = obj.type_name() + " object";
  if (key.is_string()) return Value::undefined("'" + type + "' has no attribute " + to_repr(key));
  return Value::undefined(type + " has no element " + to_repr(key));
}

Value slice(const Value& obj, const Value& start_v, const Value& stop_v, const Value& step_v) {
  if (obj.is_undefined()) fail_undefined(obj);
  auto bound = [](const Value& v) -> std::optional<int64_t> {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    if (!v.is_int()) fail("slice indices must be integers or None or have an __index__ method");
    return v.as_int();
  };
  const std::optional<int64_t> start_o = bound(start_v), stop_o = bound(stop_v), step_o = bound(step_v);
  const int64_t step = step_o.value_or(1);
  if (step == 0) fail("slice step cannot be zero");
  size_t n;
  std::vector<char32_t> cps;
  if (obj.is_list()) {
    n = obj.items().size();
  } else if (obj.is_string()) {
    if (pystr::is_ascii(obj.str())) {
      n = obj.str().size();
    } else {
      cps = pystr::decode(obj.str());
      n = cps.size();
    }
  } else if (obj.is_range()) {
    n = obj.range().size();
  } else if (obj.is_dict()) {
    fail("unhashable type: 'slice'");  // jinja2 compiles x[a:b] to a plain Python subscript
  } else {
    fail("'", obj.type_name(), "' object is not subscriptable");
  }
  const int64_t len = static_cast<int64_t>(n);
  auto adjust = [&](std::optional<int64_t> v, bool is_start) -> int64_t {
    if (!v) return is_start ? (step < 0 ? len - 1 : 0) : (step < 0 ? -1 : len);
    int64_t x = *v;
    if (x < 0) {
      x += len;
      if (x < 0) x = step < 0 ? -1 : 0;
    } else if (x >= len) {
      x = step < 0 ? len - 1 : len;
    }
    return x;
  };
  const int64_t start = adjust(start_o, true), stop = adjust(stop_o, false);
  int64_t count = 0;
  if (step > 0 && start < stop) count = (stop - start - 1) / step + 1;
  if (step < 0 && stop < start) count = (start - stop - 1) / (-step) + 1;
  if (obj.is_range()) {
    const RangeData& r = obj.range();
    RangeData out;  // as CPython slices a range: the adjusted indices mapped through the range
    out.start = checked_add(r.start, checked_mul(start, r.step));
    out.stop = checked_add(r.start, checked_mul(stop, r.step));
    out.step = checked_mul(r.step, step);
    return Value::range(out);
  }
  if (obj.is_list()) {
    std::vector<Value> items;
    items.reserve(static_cast<size_t>(count));
    for (int64_t k = 0; k < count; ++k) items.push_back(obj.items()[static_cast<size_t>(start + k * step)]);
    return Value::list(std::move(items), obj.is_tuple());
  }
  std::string out;
  if (cps.empty()) {
    const std::string& s = obj.str();
    out.reserve(static_cast<size_t>(count));
    for (int64_t k = 0; k < count; ++k) out.push_back(s[static_cast<size_t>(start + k * step)]);
  } else {
    for (int64_t k = 0; k < count; ++k) pystr::append_cp(out, cps[static_cast<size_t>(start + k * step)]);
  }
  return Value::string(std::move(out));
}

std::optional<double> to_float(const Value& v) {
  if (v.is_number()) return v.as_float();
  if (!v.is_string()) return std::nullopt;
  std::string s = pystr::strip(v.str(), std::nullopt, true, true);
  std::string t;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 == s.size() || !std::isdigit(static_cast<unsigned char>(s[i - 1])) ||
          !std::isdigit(static_cast<unsigned char>(s[i + 1])))
        return std::nullopt;
      continue;
    }
    t.push_back(s[i]);
  }
  if (t.empty()) return std::nullopt;
  std::string lower = pystr::lower(t);
  const std::string body = (lower[0] == '+' || lower[0] == '-') ? lower.substr(1) : lower;
  const double sign = lower[0] == '-' ? -1.0 : 1.0;
  if (body == "inf" || body == "infinity") return sign * INFINITY;
  if (body == "nan") return std::nan("");
  for (char c : body)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == '+' || c == '-'))
      return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size()) return std::nullopt;
  return d;
}

std::optional<int64_t> to_int(const Value& v, int base) {
  if (v.is_int()) return v.as_int();
  if (v.is_float()) {
    const double d = v.as_float();
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return std::nullopt;
    return static_cast<int64_t>(d);
  }
  if (!v.is_string()) return std::nullopt;
  std::string s = pystr::strip(v.str(), std::nullopt, true, true);
  if (s.empty()) return std::nullopt;
  bool negative = false;
  size_t i = 0;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    i = 1;
  }
  if (i + 1 < s.size() && s[i] == '0') {
    const char p = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i + 1])));
    const int prefix_base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (prefix_base && (base == prefix_base || base == 0)) {
      base = prefix_base;
      i += 2;
      if (i < s.size() && s[i] == '_') ++i;
    }
  }
  if (base == 0) base = 10;
  if (i >= s.size()) return std::nullopt;
  int64_t value = 0;
  bool prev_digit = false;
  for (; i < s.size(); ++i) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
    if (c == '_' && prev_digit && i + 1 < s.size()) {
      prev_digit = false;
      continue;
    }
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'z' ? c - 'a' + 10 : 99;
    if (d >= base) return std::nullopt;
    if (__builtin_mul_overflow(value, base, &value) || __builtin_add_overflow(value, d, &value)) return std::nullopt;
    prev_digit = true;
  }
  if (!prev_digit) return std::nullopt;
  return negative ? -value : value;
}

namespace {

// One more decimal digit of a width or precision; fails past a million (which also rules out overflow).
void add_digit(int& v, char c) {
  v = std::max(v, 0) * 10 + (c - '0');
  if (v > 1000000) fail("format width or precision is too large");
}

struct Spec {
  bool left = false, zero = false, plus = false, space = false, alt = false;
  int width = -1, precision = -1;
  char type = 0;
};

std::string pad(std::string s, const Spec& spec, bool numeric) {
  const size_t len = pystr::length(s);
  if (spec.width < 0 || len >= static_cast<size_t>(spec.width)) return s;
  const size_t fill = static_cast<size_t>(spec.width) - len;
  if (spec.left) return s + std::string(fill, ' ');
  if (spec.zero && numeric) {
    size_t sign = (!s.empty() && (s[0] == '-' || s[0] == '+' || s[0] == ' ')) ? 1 : 0;
    return s.substr(0, sign) + std::string(fill, '0') + s.substr(sign);
  }
  return std::string(fill, ' ') + s;
}

std::string format_number(const Value& v, const Spec& spec) {
  char conv = spec.type;
  if (conv == 'i' || conv == 'u') conv = 'd';
  std::string body;
  if (conv == 'd' || conv == 'x' || conv == 'X' || conv == 'o') {
    std::optional<int64_t> i = v.is_number() ? to_int(v) : std::nullopt;
    if (!i) fail("%", spec.type, " format: a real number is required, not ", v.type_name());
    const bool neg = *i < 0;
    const uint64_t mag = neg ? static_cast<uint64_t>(-(*i + 1)) + 1 : static_cast<uint64_t>(*i);
    char buf[80];
    std::snprintf(buf, sizeof buf,
                  conv == 'd'   ? "%llu"
                  : conv == 'x' ? "%llx"
                  : conv == 'X' ? "%llX"
                                : "%llo",
                  static_cast<unsigned long long>(mag));
    body = buf;
    if (spec.precision >= 0 && body.size() < static_cast<size_t>(spec.precision))
      body = std::string(static_cast<size_t>(spec.precision) - body.size(), '0') + body;
    if (spec.alt && conv != 'd') body = (conv == 'o' ? "0o" : conv == 'x' ? "0x" : "0X") + body;
    body = (neg ? "-" : spec.plus ? "+" : spec.space ? " " : "") + body;
  } else {
    std::optional<double> d = v.is_number() ? std::optional<double>(v.as_float()) : std::nullopt;
    if (!d) fail("must be real number, not ", v.type_name());
    const int precision = spec.precision < 0 ? 6 : std::min(spec.precision, 4096);
    std::string fmt = "%";
    if (spec.plus) fmt += "+";
    if (spec.space) fmt += " ";
    if (spec.alt) fmt += "#";
    fmt += "." + std::to_string(precision);
    fmt.push_back(conv);
    const int n = std::snprintf(nullptr, 0, fmt.c_str(), *d);
    if (n < 0) fail("cannot format ", *d);
    body.assign(static_cast<size_t>(n) + 1, '\0');
    std::snprintf(body.data(), body.size(), fmt.c_str(), *d);
    body.resize(static_cast<size_t>(n));
  }
  return pad(body, spec, true);
}

}  // namespace

std::string percent_format(const std::string& format, const Value& args) {
  std::vector<Value> positional;
  const DictData* mapping = nullptr;
  // Python: a non-tuple argument with __getitem__ (dict, list, range) counts as a mapping, so leftover
  // arguments are not an error for it.
  bool mapping_like = false;
  if (args.is_tuple()) {
    positional = args.items();
  } else {
    if (args.is_dict()) mapping = &args.dict();
    mapping_like = args.is_dict() || args.is_list() || args.is_range() || args.is_undefined();
    positional.push_back(args);
  }
  size_t next = 0;
  bool used_mapping = false;
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (++i >= format.size()) fail("incomplete format");
    if (format[i] == '%') {
      out.push_back('%');
      continue;
    }
    const Value* arg = nullptr;
    if (format[i] == '(') {
      const size_t close = format.find(')', i);
      if (close == std::string::npos) fail("incomplete format key");
      if (!mapping) fail("format requires a mapping");
      const std::string key = format.substr(i + 1, close - i - 1);
      arg = mapping->find(std::string_view(key));
      if (!arg) fail("KeyError: '", key, "'");
      used_mapping = true;
      i = close + 1;
    }
    Spec spec;
    for (; i < format.size(); ++i) {
      const char f = format[i];
      if (f == '-')
        spec.left = true;
      else if (f == '0')
        spec.zero = true;
      else if (f == '+')
        spec.plus = true;
      else if (f == ' ')
        spec.space = true;
      else if (f == '#')
        spec.alt = true;
      else
        break;
    }
    while (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i]))) add_digit(spec.width, format[i++]);
    if (i < format.size() && format[i] == '.') {
      spec.precision = 0;
      ++i;
      while (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i])))
        add_digit(spec.precision, format[i++]);
    }
    if (i >= format.size()) fail("incomplete format");
    spec.type = format[i];
    if (!arg) {
      if (next >= positional.size()) fail("not enough arguments for format string");
      arg = &positional[next++];
    }
    switch (spec.type) {
      case 's':
      case 'r':
      case 'a': {
        std::string s = spec.type == 's' ? to_str(*arg) : to_repr(*arg);
        if (spec.precision >= 0) {
          std::vector<char32_t> cps = pystr::decode(s);
          if (cps.size() > static_cast<size_t>(spec.precision))
            s = pystr::encode(cps, 0, static_cast<size_t>(spec.precision));
        }
        out += pad(std::move(s), spec, false);
        break;
      }
      case 'd':
      case 'i':
      case 'u':
      case 'x':
      case 'X':
      case 'o':
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G':
        out += format_number(*arg, spec);
        break;
      default:
        fail("unsupported format character '", spec.type, "'");
    }
    check_string_size(out.size(), "% formatting");
  }
  if (!used_mapping && !mapping_like && next < positional.size())
    fail("not all arguments converted during string formatting");
  return out;
}

std::string str_format(const std::string& format, const std::vector<Value>& args,
                       const std::vector<std::pair<std::string, Value>>& kwargs) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        out.push_back('}');
        ++i;
        continue;
      }
      fail("Single '}' encountered in format string");
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    const size_t close = format.find('}', i);
    if (close == std::string::npos) fail("Single '{' encountered in format string");
    std::string field = format.substr(i + 1, close - i - 1);
    i = close;
    std::string spec_text;
    char conversion = 's';
    if (size_t colon = field.find(':'); colon != std::string::npos) {
      spec_text = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    if (size_t bang = field.find('!'); bang != std::string::npos) {
      if (bang + 2 != field.size()) fail("invalid conversion in format string");
      conversion = field[bang + 1];
      field = field.substr(0, bang);
    }
    const Value* arg = nullptr;
    if (field.empty()) {
      if (auto_index >= args.size()) fail("Replacement index ", auto_index, " out of range for positional args tuple");
      arg = &args[auto_index++];
    } else if (std::isdigit(static_cast<unsigned char>(field[0]))) {
      const size_t k = std::strtoul(field.c_str(), nullptr, 10);
      if (k >= args.size()) fail("Replacement index ", k, " out of range for positional args tuple");
      arg = &args[k];
    } else {
      for (const auto& [name, value] : kwargs)
        if (name == field) arg = &value;
      if (!arg) fail("KeyError: '", field, "'");
    }
    std::string text = conversion == 'r' || conversion == 'a' ? to_repr(*arg) : to_str(*arg);
    if (!spec_text.empty()) {
      // [[fill]align][0][width][.precision][type] for the common cases.
      Spec spec;
      char fill = ' ', align = 0;
      size_t p = 0;
      if (spec_text.size() >= 2 && (spec_text[1] == '<' || spec_text[1] == '>' || spec_text[1] == '^')) {
        fill = spec_text[0];
        align = spec_text[1];
        p = 2;
      } else if (!spec_text.empty() && (spec_text[0] == '<' || spec_text[0] == '>' || spec_text[0] == '^')) {
        align = spec_text[0];
        p = 1;
      }
      if (p < spec_text.size() && spec_text[p] == '0') {
        spec.zero = true;
        ++p;
      }
      while (p < spec_text.size() && std::isdigit(static_cast<unsigned char>(spec_text[p])))
        add_digit(spec.width, spec_text[p++]);
      if (p < spec_text.size() && spec_text[p] == '.') {
        spec.precision = 0;
        ++p;
        while (p < spec_text.size() && std::isdigit(static_cast<unsigned char>(spec_text[p])))
          add_digit(spec.precision, spec_text[p++]);
      }
      if (p < spec_text.size()) spec.type = spec_text[p++];
      if (p != spec_text.size()) fail("format spec '", spec_text, "' is not supported in chat templates");
      if (spec.type && spec.type != 's') {
        text = format_number(*arg, spec);
        spec.width = -1;
      } else if (spec.precision >= 0) {
        std::vector<char32_t> cps = pystr::decode(text);
        if (cps.size() > static_cast<size_t>(spec.precision))
          text = pystr::encode(cps, 0, static_cast<size_t>(spec.precision));
      }
      const size_t len = pystr::length(text);
      if (spec.width > 0 && len < static_cast<size_t>(spec.width)) {
        const size_t n = static_cast<size_t>(spec.width) - len;
        if (!align) align = arg->is_number() && !arg->is_bool() ? '>' : '<';
        const std::string f(1, fill);
        std::string left, right;
        for (size_t k = 0; k < n; ++k) {
          if (align == '<' || (align == '^' && k >= n / 2))
            right += f;
          else
            left += f;
        }
        text = left + text + right;
      }
    }
    out += text;
    check_string_size(out.size(), "str.format");
  }
  return out;
}

}  // namespace shardlm::jinja::ops
