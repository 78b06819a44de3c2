// Python's str/dict/list/range methods, the attributes of `loop`, and the globals transformers gives chat
// templates (see jinja_builtins.h).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <functional>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_ops.h"
#include "tokenizer/jinja_pystr.h"

namespace shardlm::jinja::builtins {

// ---- methods and attributes ----

namespace {

using Method = std::function<Value(Interpreter&, const Value& self, CallArgs&)>;

Value bind_method(const Value& self, const std::string& type, const std::string& name, Method m) {
  auto f = std::make_shared<FunctionData>();
  f->name = type + "." + name;
  f->repr = "<built-in method " + name + " of " + type + " object>";
  f->self = self;
  f->call = [self, m = std::move(m)](Interpreter& in, CallArgs& args, int) {
    in.add_work(Interpreter::cost_of(self));
    Value r = m(in, self, args);
    in.add_work(Interpreter::cost_of(r));
    return r;
  };
  return Value::function(std::move(f));
}

Value unsafe(const std::string& name, const std::string& type) {
  return Value::undefined("access to attribute '" + name + "' of '" + type + "' object is unsafe.");
}

// Optional start/end (code point offsets, Python slice rules) applied to s.
std::string substr_cp(const std::string& s, const Params& p, size_t first) {
  if (!p.has(first) && !p.has(first + 1)) return s;
  Value sliced =
      ops::slice(Value::string(s), p.get(first, Value::none()), p.get(first + 1, Value::none()), Value::none());
  return sliced.str();
}

int64_t cp_offset_of(const std::string& s, const Params& p, size_t first) {
  if (!p.has(first) || p[first].is_none()) return 0;
  const int64_t len = static_cast<int64_t>(pystr::length(s));
  int64_t start = p[first].as_int();
  if (start < 0) start = std::max<int64_t>(0, start + len);
  return std::min(start, len);
}

std::optional<Value> str_method(const Value& self, const std::string& name) {
  static const std::unordered_map<std::string, Method> methods = [] {
    std::unordered_map<std::string, Method> m;
    auto strip = [](bool l, bool r, const char* n) {
      return [l, r, n](Interpreter&, const Value& s, CallArgs& args) {
        Params p(std::string("str.") + n, args, {"chars"});
        std::optional<std::string> chars;
        if (p.has(0) && !p[0].is_none()) chars = p.str(0, "");
        return Value::string(pystr::strip(s.str(), chars, l, r));
      };
    };
    m["strip"] = strip(true, true, "strip");
    m["lstrip"] = strip(true, false, "lstrip");
    m["rstrip"] = strip(false, true, "rstrip");
    auto split = [](bool right, const char* n) {
      return [right, n](Interpreter&, const Value& s, CallArgs& args) {
        Params p(std::string("str.") + n, args, {"sep", "maxsplit"});
        std::optional<std::string> sep;
        if (p.has(0) && !p[0].is_none()) sep = p.str(0, "");
        if (sep && sep->empty()) fail("empty separator");
        std::vector<Value> out;
        for (std::string& part : pystr::split(s.str(), sep, p.integer(1, -1), right))
          out.push_back(Value::string(std::move(part)));
        return Value::list(std::move(out));
      };
    };
    m["split"] = split(false, "split");
    m["rsplit"] = split(true, "rsplit");
    m["splitlines"] = [](Interpreter&, const Value& s, CallArgs& args) {
      Params p("str.splitlines", args, {"keepends"});
      std::vector<Value> out;
      for (std::string& line : pystr::splitlines(s.str(), p.boolean(0, false)))
        out.push_back(Value::string(std::move(line)));
      return Value::list(std::move(out));
    };
    auto affix = [](bool ends, const char* n) {
      return [ends, n](Interpreter&, const Value& s, CallArgs& args) {
        Params p(std::string("str.") + n, args, {"prefix", "start", "end"});
        if (!p.has(0)) fail("str.", n, "() takes at least 1 argument (0 given)");
        const std::string text = substr_cp(s.str(), p, 1);
        std::vector<Value> options = p[0].is_tuple() ? p[0].items() : std::vector<Value>{p[0]};
        for (const Value& o : options) {
          if (!o.is_string()) fail(n, " first arg must be str or a tuple of str, not ", o.type_name());
          const std::string& x = o.str();
          if (x.size() <= text.size() &&
              (ends ? text.compare(text.size() - x.size(), x.size(), x) == 0 : text.compare(0, x.size(), x) == 0))
            return Value::boolean(true);
        }
        return Value::boolean(false);
      };
    };
    m["startswith"] = affix(false, "startswith");
    m["endswith"] = affix(true, "endswith");
    m["upper"] = [](Interpreter&, const Value& s, CallArgs& args) {
      Params p("str.upper", args, {});
      return Value::string(pystr::upper(s.str()));
    };
    m["lower"] = [](Interpreter&, const Value& s, CallArgs& args) {
      Params p("str.lower", args, {});
      return Value::string(pystr::lower(s.str()));
    };
    m["casefold"] = m["lower"];
    m["title"] = [](Interpreter&, const Value& s, CallArgs& args) {
      Params p("str.title", args, {});
      return Value::string(pystr::title(s.str()));
    };
    m["capitalize"] = [](Interpreter&, const Value& s, CallArgs& args) {
      Params p("str.capitalize", args, {});
      return Value::string(pystr::capitalize(s.str()));
    };
    m["replace"] = [](Interpreter& in, const Value& s, CallArgs& args) {
      Params p("str.replace", args, {"old", "new", "count"});
      if (!p.has(0) || !p.has(1)) fail("str.replace() needs the old and the new text");
      const std::string old = p.str(0, ""), repl = p.str(1, "");
      int64_t count = p.integer(2, -1);
      const std::string& text = s.str();
      std::string out;
      if (old.empty()) {
        std::vector<char32_t> cps = pystr::decode(text);
        for (size_t i = 0; i <= cps.size(); ++i) {
          if (count != 0) {
            out += repl;
            if (count > 0) --count;
          }
          if (i < cps.size()) pystr::append_cp(out, cps[i]);
          check_string_size(out.size(), "str.replace");
        }
      } else {
        size_t pos = 0;
        while (count != 0) {
          const size_t at = text.find(old, pos);
          if (at == std::string::npos) break;
          out.append(text, pos, at - pos);
          out += repl;
          pos = at + old.size();
          if (count > 0) --count;
          check_string_size(out.size(), "str.replace");
        }
        out.append(text, pos, std::string::npos);
      }
      check_string_size(out.size(), "str.replace");
      in.add_work(out.size() / 64);
      return Value::string(std::move(out));
    };
    auto finder = [](bool right, bool raise, const char* n) {
      return [right, raise, n](Interpreter&, const Value& s, CallArgs& args) {
        Params p(std::string("str.") + n, args, {"sub", "start", "end"});
        const std::string sub = p.str(0, "");
        const std::string text = substr_cp(s.str(), p, 1);
        int64_t at = pystr::find(text, sub, right);
        if (at < 0) {
          if (raise) fail("substring not found");
          return Value::integer(-1);
        }
        return Value::integer(at + cp_offset_of(s.str(), p, 1));
      };
    };
    m["find"] = finder(false, false, "find");
    m["rfind"] = finder(true, false, "rfind");
    m["index"] = finder(false, true, "index");
    m["rindex"] = finder(true, true, "rindex");
    m["count"] = [](Interpreter&, const Value& s, CallArgs& args) {
      Params p("str.count", args, {"sub", "start", "end"});
      const std::string sub = p.str(0, "");
      const std::string text = substr_cp(s.str(), p, 1);
      if (sub.empty()) return Value::integer(static_cast<int64_t>(pystr::length(text)) + 1);
      int64_t n = 0;
      for (size_t at = text.find(sub); at != std::string::npos; at = text.find(sub, at + sub.size())) ++n;
      return Value::integer(n);
    };
    m["join"] = [](Interpreter& in, const Value& s, CallArgs& args) {
      Params p("str.join", args, {"iterable"});
      std::vector<std::string> parts;
      size_t i = 0;
      for (const Value& item : in.items_of(p[0])) {
        if (!item.is_string()) fail("sequence item ", i, ": expected str instance, ", item.type_name(), " found");
        parts.push_back(item.str());
        ++i;
      }
      return Value::string(join_strings(parts, s.str()));
    };
    m["format"] = [](Interpreter&, const Value& s, CallArgs& args) {
      return Value::string(ops::str_format(s.str(), args.positional, args.keyword));
    };
    auto all_of = [](bool (*pred)(char32_t), const char* n) {
      return [pred, n](Interpreter&, const Value& s, CallArgs& args) {
        Params p(std::string("str.") + n, args, {});
        std::vector<char32_t> cps = pystr::decode(s.str());
        return Value::boolean(!cps.empty() && std::all_of(cps.begin(), cps.end(), pred));
      };
    };
    m["isdigit"] = all_of(pystr::is_digit, "isdigit");
    m["isdecimal"] = all_of(pystr::is_digit, "isdecimal");
    m["isnumeric"] = all_of(pystr::is_digit, "isnumeric");
    m["isalpha"] = all_of(pystr::is_alpha, "isalpha");
    m["isalnum"] = all_of([](char32_t c) { return pystr::is_alpha(c) || pystr::is_digit(c); }, "isalnum");
    m["isspace"] = all_of(pystr::is_space, "isspace");
    m["islower"] = [](Interpreter&, const Value& s, CallArgs& args) {
      Params p("str.islower", args, {});
      return Value::boolean(py_islower(s.str()));
    };
    m["isupper"] = [](Interpreter&, const Value& s, CallArgs& args) {
      Params p("str.isupper", args, {});
      return Value::boolean(py_isupper(s.str()));
    };
    m["removeprefix"] = [](Interpreter&, const Value& s, CallArgs& args) {
      Params p("str.removeprefix", args, {"prefix"});
      const std::string x = p.str(0, "");
      const std::string& t = s.str();
      return Value::string(t.compare(0, x.size(), x) == 0 && x.size() <= t.size() ? t.substr(x.size()) : t);
    };
    m["removesuffix"] = [](Interpreter&, const Value& s, CallArgs& args) {
      Params p("str.removesuffix", args, {"suffix"});
      const std::string x = p.str(0, "");
      const std::string& t = s.str();
      const bool has = !x.empty() && x.size() <= t.size() && t.compare(t.size() - x.size(), x.size(), x) == 0;
      return Value::string(has ? t.substr(0, t.size() - x.size()) : t);
    };
    auto partition = [](bool right, const char* n) {
      return [right, n](Interpreter&, const Value& s, CallArgs& args) {
        Params p(std::string("str.") + n, args, {"sep"});
        const std::string sep = p.str(0, "");
        if (sep.empty()) fail("empty separator");
        const std::string& t = s.str();
        const size_t at = right ? t.rfind(sep) : t.find(sep);
        if (at == std::string::npos) {
          return right ? Value::list({Value::string(""), Value::string(""), s}, true)
                       : Value::list({s, Value::string(""), Value::string("")}, true);
        }
        return Value::list(
            {Value::string(t.substr(0, at)), Value::string(sep), Value::string(t.substr(at + sep.size()))}, true);
      };
    };
    m["partition"] = partition(false, "partition");
    m["rpartition"] = partition(true, "rpartition");
    auto justify = [](char how, const char* n) {
      return [how, n](Interpreter&, const Value& s, CallArgs& args) {
        Params p(std::string("str.") + n, args, {"width", "fillchar"});
        const int64_t width = std::min<int64_t>(p.integer(0, 0), 1 << 20);
        const std::string fill = p.str(1, " ");
        if (pystr::length(fill) != 1) fail("The fill character must be exactly one character long");
        const int64_t len = static_cast<int64_t>(pystr::length(s.str()));
        if (width <= len) return s;
        const int64_t marg = width - len;
        int64_t left = how == 'l' ? 0 : how == 'r' ? marg : marg / 2 + (marg & width & 1);
        std::string out;
        for (int64_t i = 0; i < left; ++i) out += fill;
        out += s.str();
        for (int64_t i = 0; i < marg - left; ++i) out += fill;
        return Value::string(std::move(out));
      };
    };
    m["ljust"] = justify('l', "ljust");
    m["rjust"] = justify('r', "rjust");
    m["center"] = justify('c', "center");
    m["zfill"] = [](Interpreter&, const Value& s, CallArgs& args) {
      Params p("str.zfill", args, {"width"});
      const int64_t width = std::min<int64_t>(p.integer(0, 0), 1 << 20);
      const std::string& t = s.str();
      const int64_t len = static_cast<int64_t>(pystr::length(t));
      if (width <= len) return s;
      const size_t sign = !t.empty() && (t[0] == '+' || t[0] == '-') ? 1 : 0;
      return Value::string(t.substr(0, sign) + std::string(static_cast<size_t>(width - len), '0') + t.substr(sign));
    };
    return m;
  }();
  auto it = methods.find(name);
  if (it == methods.end()) return std::nullopt;
  return bind_method(self, "str", name, it->second);
}

std::optional<Value> dict_method(const Value& self, const std::string& name) {
  if (name == "items" || name == "keys" || name == "values") {
    return bind_method(self, "dict", name, [name](Interpreter& in, const Value& d, CallArgs& args) {
      Params p("dict." + name, args, {});
      std::vector<Value> out;
      for (const auto& [k, v] : d.dict().entries)
        out.push_back(name == "items" ? Value::list({k, v}, true) : name == "keys" ? k : v);
      in.add_work(out.size());
      return Value::list(std::move(out));
    });
  }
  if (name == "get") {
    return bind_method(self, "dict", name, [](Interpreter&, const Value& d, CallArgs& args) {
      Params p("dict.get", args, {"key", "default"});
      if (!p.has(0)) fail("get expected at least 1 argument, got 0");
      if (p[0].is_list() && !p[0].is_tuple()) fail("unhashable type: 'list'");
      if (p[0].is_dict()) fail("unhashable type: 'dict'");
      if (const Value* v = d.dict().find(p[0])) return *v;
      return p.get(1, Value::none());
    });
  }
  if (name == "copy") {
    return bind_method(self, "dict", name, [](Interpreter&, const Value& d, CallArgs& args) {
      Params p("dict.copy", args, {});
      return d;
    });
  }
  static const char* const kUnsafe[] = {"clear", "pop", "popitem", "setdefault", "update"};
  for (const char* u : kUnsafe)
    if (name == u) return unsafe(name, "dict");
  return std::nullopt;
}

std::optional<Value> list_method(const Value& self, const std::string& name) {
  const std::string type = self.is_tuple() ? "tuple" : "list";
  if (const auto& fields = self.list_ptr()->field_names) {  // a named tuple (groupby's (grouper, list))
    for (size_t i = 0; i < fields->size() && i < self.items().size(); ++i)
      if ((*fields)[i] == name) return self.items()[i];
  }
  if (name == "count") {
    return bind_method(self, type, name, [](Interpreter&, const Value& l, CallArgs& args) {
      Params p("list.count", args, {"value"});
      int64_t n = 0;
      for (const Value& v : l.items()) n += equals(v, p[0]) ? 1 : 0;
      return Value::integer(n);
    });
  }
  if (name == "index") {
    return bind_method(self, type, name, [](Interpreter&, const Value& l, CallArgs& args) {
      Params p("list.index", args, {"value"});
      const auto& items = l.items();
      for (size_t i = 0; i < items.size(); ++i)
        if (equals(items[i], p[0])) return Value::integer(static_cast<int64_t>(i));
      fail(to_repr(p[0]), " is not in list");
    });
  }
  if (!self.is_tuple()) {
    if (name == "copy") {
      return bind_method(self, type, name, [](Interpreter&, const Value& l, CallArgs& args) {
        Params p("list.copy", args, {});
        return l;
      });
    }
    static const char* const kUnsafe[] = {"append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort"};
    for (const char* u : kUnsafe)
      if (name == u) return unsafe(name, "list");
  }
  return std::nullopt;
}

std::optional<Value> loop_attribute(const Value& self, const std::string& name) {
  const LoopData& l = self.loop();
  const size_t n = l.seq->size();
  const auto i = static_cast<int64_t>(l.index0);
  if (name == "index0") return Value::integer(i);
  if (name == "index") return Value::integer(i + 1);
  if (name == "revindex") return Value::integer(static_cast<int64_t>(n) - i);
  if (name == "revindex0") return Value::integer(static_cast<int64_t>(n) - i - 1);
  if (name == "first") return Value::boolean(l.index0 == 0);
  if (name == "last") return Value::boolean(l.index0 + 1 == n);
  if (name == "length") return Value::integer(static_cast<int64_t>(n));
  if (name == "depth") return Value::integer(static_cast<int64_t>(l.depth));
  if (name == "depth0") return Value::integer(static_cast<int64_t>(l.depth) - 1);
  if (name == "previtem") {
    if (l.index0 == 0) return Value::undefined("there is no previous item");
    return (*l.seq)[l.index0 - 1];
  }
  if (name == "nextitem") {
    if (l.index0 + 1 >= n) return Value::undefined("there is no next item");
    return (*l.seq)[l.index0 + 1];
  }
  if (name == "cycle") {
    return bind_method(self, "LoopContext", name, [](Interpreter&, const Value& lv, CallArgs& args) {
      if (args.positional.empty()) fail("no items for cycling given");
      return args.positional[lv.loop().index0 % args.positional.size()];
    });
  }
  return std::nullopt;
}

}  // namespace

std::optional<Value> attribute(Interpreter&, const Value& obj, const std::string& name) {
  switch (obj.kind()) {
    case Kind::String:
      return str_method(obj, name);
    case Kind::Dict:
      return dict_method(obj, name);
    case Kind::List:
      return list_method(obj, name);
    case Kind::Loop:
      return loop_attribute(obj, name);
    case Kind::Namespace: {
      if (const Value* v = obj.ns().attrs.find(std::string_view(name))) return *v;
      return std::nullopt;
    }
    case Kind::Range: {
      const RangeData& r = obj.range();
      if (name == "start") return Value::integer(r.start);
      if (name == "stop") return Value::integer(r.stop);
      if (name == "step") return Value::integer(r.step);
      if (name == "count" || name == "index") {
        return bind_method(obj, "range", name, [name](Interpreter&, const Value& self, CallArgs& args) {
          Params p("range." + name, args, {"value"});
          const bool in = ops::contains(self, p[0]);
          if (name == "count") return Value::integer(in ? 1 : 0);
          if (!in) fail(to_repr(p[0]), " is not in range");
          const RangeData& rd = self.range();
          return Value::integer((p[0].as_int() - rd.start) / rd.step);
        });
      }
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

// ---- globals ----

namespace {

Value make_global(const std::string& name, std::function<Value(Interpreter&, CallArgs&, int)> fn) {
  auto f = std::make_shared<FunctionData>();
  f->name = name;
  f->repr = "<function " + name + ">";
  f->call = std::move(fn);
  return Value::function(std::move(f));
}

std::string strftime_now(Interpreter& in, const std::string& format) {
  if (format.size() > 1024) fail("strftime_now: the format is longer than 1024 characters");
  std::tm tm{};
  long micros = 0;
  if (in.options().now) {
    const std::time_t t = static_cast<std::time_t>(*in.options().now);
    gmtime_r(&t, &tm);
  } else {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    micros = static_cast<long>(std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
                               1000000);
    localtime_r(&t, &tm);
  }
  // Python's datetime.strftime handles %f itself; the rest goes to the C library.
  std::string fmt;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] == '%' && i + 1 < format.size()) {
      if (format[i + 1] == 'f') {
        char buf[16];
        std::snprintf(buf, sizeof buf, "%06ld", micros);
        fmt += buf;
        ++i;
        continue;
      }
      fmt += format.substr(i, 2);
      ++i;
      continue;
    }
    fmt.push_back(format[i]);
  }
  if (fmt.empty()) return "";
  std::string out(4096, '\0');
  const size_t n = std::strftime(out.data(), out.size(), fmt.c_str(), &tm);
  if (n == 0) fail("strftime_now: cannot format '", format, "'");
  out.resize(n);
  return out;
}

const std::unordered_map<std::string, Value>& globals() {
  static const std::unordered_map<std::string, Value> table = [] {
    std::unordered_map<std::string, Value> g;
    g["range"] = make_global("range", [](Interpreter&, CallArgs& args, int) {
      if (!args.keyword.empty()) fail("range() takes no keyword arguments");
      const auto& a = args.positional;
      if (a.empty() || a.size() > 3) fail("range expected 1 to 3 arguments, got ", a.size());
      for (const Value& v : a)
        if (!v.is_int()) fail("'", v.type_name(), "' object cannot be interpreted as an integer");
      RangeData r;
      if (a.size() == 1) {
        r.stop = a[0].as_int();
      } else {
        r.start = a[0].as_int();
        r.stop = a[1].as_int();
        if (a.size() == 3) r.step = a[2].as_int();
      }
      if (r.step == 0) fail("range() arg 3 must not be zero");
      if (r.size() > 100000)  // jinja2's sandbox refuses bigger ranges (MAX_RANGE)
        fail("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
      return Value::range(r);
    });
    auto dict_from = [](CallArgs& args, const char* what) {
      DictData d;
      if (args.positional.size() > 1)
        fail(what, " expected at most 1 positional argument, got ", args.positional.size());
      if (!args.positional.empty()) {
        const Value& src = args.positional[0];
        if (src.is_dict()) {
          d = src.dict();
        } else if (src.is_namespace()) {
          d = src.ns().attrs;
        } else {
          for (const Value& pair : ops::iterate(src)) {
            std::vector<Value> kv = ops::iterate(pair);
            if (kv.size() != 2) fail("dictionary update sequence element has length ", kv.size(), "; 2 is required");
            d.set(kv[0], kv[1]);
          }
        }
      }
      for (auto& [k, v] : args.keyword) d.set(Value::string(k), v);
      return d;
    };
    g["dict"] = make_global(
        "dict", [dict_from](Interpreter&, CallArgs& args, int) { return Value::dict(dict_from(args, "dict")); });
    g["namespace"] = make_global("namespace", [dict_from](Interpreter&, CallArgs& args, int) {
      auto ns = std::make_shared<NamespaceData>();
      ns->attrs = dict_from(args, "namespace");
      for (const auto& [k, v] : ns->attrs.entries) {
        if (k.is_string() && !k.str().empty() && k.str()[0] == '_')
          fail("Chat templates cannot store underscore-prefixed attributes on a namespace, but got '", k.str(),
               "'. Please rename the attribute.");
        if (v.is_namespace()) fail("a namespace cannot hold another namespace in a chat template");
      }
      return Value::ns(std::move(ns));
    });
    g["raise_exception"] = make_global("raise_exception", [](Interpreter&, CallArgs& args, int) -> Value {
      Params p("raise_exception()", args, {"message"});
      if (!p.has(0)) fail("raise_exception() missing 1 required positional argument: 'message'");
      fail(to_str(p[0]));
    });
    g["strftime_now"] = make_global("strftime_now", [](Interpreter& in, CallArgs& args, int) {
      Params p("strftime_now()", args, {"format"});
      if (!p.has(0)) fail("strftime_now() missing 1 required positional argument: 'format'");
      return Value::string(strftime_now(in, p.str(0, "")));
    });
    g["joiner"] = make_global("joiner", [](Interpreter&, CallArgs& args, int) {
      Params p("joiner()", args, {"sep"});
      const std::string sep = p.has(0) ? to_str(p[0]) : std::string(", ");
      auto used = std::make_shared<bool>(false);
      auto f = std::make_shared<FunctionData>();
      f->name = "joiner";
      f->repr = "<jinja2.utils.Joiner object>";
      f->call = [sep, used](Interpreter&, CallArgs&, int) {
        if (!*used) {
          *used = true;
          return Value::string("");
        }
        return Value::string(sep);
      };
      return Value::function(std::move(f));
    });
    return g;
  }();
  return table;
}

}  // namespace

std::optional<Value> global(const std::string& name) {
  const auto& g = globals();
  auto it = g.find(name);
  if (it == g.end()) return std::nullopt;
  return it->second;
}

}  // namespace shardlm::jinja::builtins
