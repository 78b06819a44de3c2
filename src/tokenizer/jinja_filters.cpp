// jinja2's built-in filters and tests (see jinja_builtins.h).
#include <algorithm>
#include <cmath>
#include <functional>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_ops.h"
#include "tokenizer/jinja_pystr.h"

namespace shardlm::jinja::builtins {

namespace {

Value str_value(std::string s) { return Value::string(std::move(s)); }

// soft_str(): str(), with Undefined as "".
std::string soft_str(const Value& v) { return to_str(v); }

Value ignore_case(const Value& v) { return v.is_string() ? Value::string(pystr::lower(v.str())) : v; }

// jinja2's make_attrgetter: "a.b.0" looks up a, then b, then item 0, each as obj[key].
Value get_path(Interpreter& in, Value item, const Value& attribute, const std::optional<Value>& fallback) {
  std::vector<Value> parts;
  if (attribute.is_string()) {
    for (const std::string& p : pystr::split(attribute.str(), std::string("."), -1, false)) {
      const bool digits = !p.empty() && std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; });
      parts.push_back(digits ? Value::integer(std::stoll(p)) : Value::string(p));
    }
  } else if (!attribute.is_none() && !attribute.is_undefined()) {
    parts.push_back(attribute);
  }
  for (const Value& part : parts) {
    item = in.item(item, part);
    if (fallback && item.is_undefined()) item = *fallback;
  }
  return item;
}

bool sort_less(const Value& a, const Value& b) {
  std::optional<bool> lt = less_than(a, b);
  if (!lt) fail("'<' not supported between instances of '", a.type_name(), "' and '", b.type_name(), "'");
  return *lt;
}

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// Python round(x, ndigits) for floats: the exactly rounded decimal (glibc's printf rounds exactly, ties to
// even on the binary value, as Python does).
double py_round(double x, int64_t ndigits) {
  if (!std::isfinite(x)) return x;
  if (ndigits > 300) return x;
  if (ndigits < -308) return 0.0 * x;
  if (ndigits >= 0) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(ndigits), x);
    return std::strtod(buf, nullptr);
  }
  const double p = std::pow(10.0, static_cast<double>(-ndigits));
  double y = x / p;
  double r = std::nearbyint(y);
  return r * p;
}

std::string indent_text(std::string s, const Value& width, bool first, bool blank) {
  std::string indention;
  if (width.is_string()) {
    indention = width.str();
  } else if (width.is_int()) {
    indention.assign(static_cast<size_t>(std::max<int64_t>(0, std::min<int64_t>(width.as_int(), 1 << 20))), ' ');
  } else {
    fail("indent: width must be an int or a string");
  }
  s += "\n";
  std::vector<std::string> lines = pystr::splitlines(s, false);
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) rv += "\n" + indention;
      rv += lines[i];
    }
  } else {
    rv = lines.empty() ? std::string() : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      rv += "\n";
      if (!lines[i].empty()) rv += indention;
      rv += lines[i];
    }
  }
  if (first) rv = indention + rv;
  check_string_size(rv.size(), "indent");
  return rv;
}

std::string jinja_title(const std::string& s) {
  // re.split(r"([-\s({\[<]+)") keeps the separators; each piece gets item[0].upper() + item[1:].lower().
  std::vector<char32_t> cps = pystr::decode(s);
  auto is_sep = [](char32_t c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || pystr::is_space(c);
  };
  std::string out;
  size_t i = 0;
  while (i < cps.size()) {
    size_t j = i;
    const bool sep = is_sep(cps[i]);
    while (j < cps.size() && is_sep(cps[j]) == sep) ++j;
    const std::string piece = pystr::encode(cps, i, j);
    std::vector<char32_t> pc = pystr::decode(piece);
    out += pystr::upper(pystr::encode(pc, 0, 1)) + pystr::lower(pystr::encode(pc, 1, pc.size()));
    i = j;
  }
  return out;
}

size_t word_count(const std::string& s) {
  size_t n = 0;
  bool in_word = false;
  for (char32_t c : pystr::decode(s)) {
    const bool w = pystr::is_alpha(c) || pystr::is_digit(c) || c == '_';
    if (w && !in_word) ++n;
    in_word = w;
  }
  return n;
}

Value to_list(Interpreter& in, const Value& v) { return Value::list(in.items_of(v)); }

JsonOptions json_options(const Params& p) {
  JsonOptions o;
  o.ensure_ascii = p.boolean(0, false);
  if (p.has(1) && !p[1].is_none()) {
    if (p[1].is_string()) {
      o.indent = p[1].str();
    } else if (p[1].is_int()) {
      o.indent = std::string(static_cast<size_t>(std::max<int64_t>(0, std::min<int64_t>(p[1].as_int(), 1 << 10))), ' ');
    } else {
      fail("tojson: indent must be an int or a string, not ", p[1].type_name());
    }
  }
  if (p.has(2) && !p[2].is_none()) {
    if (!p[2].is_list() || p[2].items().size() != 2 || !p[2].items()[0].is_string() || !p[2].items()[1].is_string())
      fail("tojson: separators must be a pair of strings");
    o.separators = std::make_pair(p[2].items()[0].str(), p[2].items()[1].str());
  }
  o.sort_keys = p.boolean(3, false);
  return o;
}

using FilterFn = std::function<Value(Interpreter&, const Value&, CallArgs&, int)>;

Value select_or_reject(Interpreter& in, const Value& value, CallArgs& args, int line, bool select, bool attr,
                       const char* name) {
  std::vector<Value> out;
  if (!value.truthy()) return Value::list(std::move(out));
  std::vector<Value> rest = args.positional;
  Value attribute;
  if (attr) {
    if (rest.empty()) fail(name, ": missing parameter for attribute name");
    attribute = rest[0];
    rest.erase(rest.begin());
  }
  std::optional<std::string> test_name;
  if (!rest.empty()) {
    if (!rest[0].is_string()) fail(name, ": the test name must be a string");
    test_name = rest[0].str();
    rest.erase(rest.begin());
  }
  for (const Value& item : in.items_of(value)) {
    const Value probe = attr ? get_path(in, item, attribute, std::nullopt) : item;
    bool ok;
    if (test_name) {
      CallArgs targs{rest, args.keyword};
      ok = in.test(*test_name, probe, targs, line);
    } else {
      ok = probe.truthy();
    }
    if (ok == select) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value min_or_max(Interpreter& in, const Value& value, CallArgs& args, bool want_max, const char* name) {
  Params p(name, args, {"case_sensitive", "attribute"});
  std::vector<Value> items = in.items_of(value);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  const bool cs = p.boolean(0, false);
  auto key = [&](const Value& v) {
    Value k = p.has(1) && !p[1].is_none() ? get_path(in, v, p[1], std::nullopt) : v;
    return cs ? k : ignore_case(k);
  };
  size_t best = 0;
  Value best_key = key(items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = key(items[i]);
    if (want_max ? sort_less(best_key, k) : sort_less(k, best_key)) {
      best = i;
      best_key = k;
    }
  }
  return items[best];
}

const std::unordered_map<std::string, FilterFn>& filters() {
  static const std::unordered_map<std::string, FilterFn> table = [] {
    std::unordered_map<std::string, FilterFn> t;
    t["abs"] = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'abs'", args, {});
      if (v.is_int()) {
        if (v.as_int() == INT64_MIN) fail("integer overflow");
        return Value::integer(std::llabs(v.as_int()));
      }
      if (v.is_float()) return Value::number(std::fabs(v.as_float()));
      if (v.is_undefined()) ops::fail_undefined(v);
      fail("bad operand type for abs(): '", v.type_name(), "'");
    };
    t["attr"] = [](Interpreter& in, const Value& v, CallArgs& args, int) {
      Params p("filter 'attr'", args, {"name"});
      const std::string name = p.str(0, "");
      if (v.is_undefined()) ops::fail_undefined(v);
      if (std::optional<Value> a = attribute(in, v, name)) return *a;
      if (v.is_namespace()) {
        if (const Value* x = v.ns().attrs.find(std::string_view(name))) return *x;
      }
      return ops::missing(v, Value::string(name));
    };
    t["capitalize"] = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'capitalize'", args, {});
      return str_value(pystr::capitalize(soft_str(v)));
    };
    t["center"] = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'center'", args, {"width"});
      const std::string s = soft_str(v);
      const int64_t width = std::min<int64_t>(p.integer(0, 80), 1 << 20);
      const int64_t len = static_cast<int64_t>(pystr::length(s));
      if (width <= len) return str_value(s);
      const int64_t marg = width - len;
      const int64_t left = marg / 2 + (marg & width & 1);
      return str_value(std::string(static_cast<size_t>(left), ' ') + s +
                       std::string(static_cast<size_t>(marg - left), ' '));
    };
    auto length = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'length'", args, {});
      std::optional<size_t> n = ops::length(v);
      if (!n) fail("object of type '", v.type_name(), "' has no len()");
      return Value::integer(static_cast<int64_t>(*n));
    };
    t["length"] = length;
    t["count"] = length;
    auto default_filter = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'default'", args, {"default_value", "boolean"});
      if (v.is_undefined() || (p.boolean(1, false) && !v.truthy())) return p.get(0, Value::string(""));
      return v;
    };
    t["default"] = default_filter;
    t["d"] = default_filter;
    t["dictsort"] = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'dictsort'", args, {"case_sensitive", "by", "reverse"});
      if (!v.is_dict()) fail("filter 'dictsort' needs a dict, got ", v.type_name());
      const std::string by = p.str(1, "key");
      if (by != "key" && by != "value") fail("You can only sort by either \"key\" or \"value\"");
      const size_t pos = by == "key" ? 0 : 1;
      const bool cs = p.boolean(0, false), rev = p.boolean(2, false);
      std::vector<std::pair<Value, Value>> entries = v.dict().entries;
      auto key = [&](const std::pair<Value, Value>& e) {
        return cs ? (pos ? e.second : e.first) : ignore_case(pos ? e.second : e.first);
      };
      std::stable_sort(entries.begin(), entries.end(), [&](const auto& a, const auto& b) {
        return rev ? sort_less(key(b), key(a)) : sort_less(key(a), key(b));
      });
      std::vector<Value> out;
      for (auto& [k, val] : entries) out.push_back(Value::list({k, val}, true));
      return Value::list(std::move(out));
    };
    auto escape = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'escape'", args, {});
      return str_value(html_escape(soft_str(v)));
    };
    t["escape"] = escape;
    t["e"] = escape;
    t["forceescape"] = escape;
    t["first"] = [](Interpreter& in, const Value& v, CallArgs& args, int) {
      Params p("filter 'first'", args, {});
      if (v.is_list()) return v.items().empty() ? Value::undefined("No first item, sequence was empty.") : v.items()[0];
      std::vector<Value> items = in.items_of(v);
      return items.empty() ? Value::undefined("No first item, sequence was empty.") : items[0];
    };
    t["last"] = [](Interpreter& in, const Value& v, CallArgs& args, int) {
      Params p("filter 'last'", args, {});
      if (v.is_list())
        return v.items().empty() ? Value::undefined("No last item, sequence was empty.") : v.items().back();
      std::vector<Value> items = in.items_of(v);
      return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
    };
    t["float"] = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'float'", args, {"default"});
      if (v.is_undefined()) ops::fail_undefined(v);
      std::optional<double> f = ops::to_float(v);
      return f ? Value::number(*f) : p.get(0, Value::number(0.0));
    };
    t["format"] = [](Interpreter&, const Value& v, CallArgs& args, int) {
      if (!args.positional.empty() && !args.keyword.empty())
        fail("can't handle positional and keyword arguments at the same time");
      Value values;
      if (!args.keyword.empty()) {
        DictData d;
        for (auto& [k, val] : args.keyword) d.set(Value::string(k), val);
        values = Value::dict(std::move(d));
      } else {
        values = Value::list(args.positional, true);
      }
      return str_value(ops::percent_format(soft_str(v), values));
    };
    t["groupby"] = [](Interpreter& in, const Value& v, CallArgs& args, int) {
      Params p("filter 'groupby'", args, {"attribute", "default", "case_sensitive"});
      if (!p.has(0)) fail("filter 'groupby' needs an attribute");
      std::optional<Value> fallback;
      if (p.has(1) && !p[1].is_none()) fallback = p[1];
      const bool cs = p.boolean(2, false);
      std::vector<Value> items = in.items_of(v);
      std::vector<std::pair<Value, Value>> keyed;
      for (const Value& item : items) {
        Value k = get_path(in, item, p[0], fallback);
        keyed.emplace_back(cs ? k : ignore_case(k), item);
      }
      std::stable_sort(keyed.begin(), keyed.end(),
                       [](const auto& a, const auto& b) { return sort_less(a.first, b.first); });
      std::vector<Value> out;
      for (size_t i = 0; i < keyed.size();) {
        size_t j = i;
        std::vector<Value> group;
        while (j < keyed.size() && equals(keyed[j].first, keyed[i].first)) group.push_back(keyed[j++].second);
        Value grouper = cs ? keyed[i].first : get_path(in, group[0], p[0], fallback);
        out.push_back(Value::list({grouper, Value::list(std::move(group))}, true, {"grouper", "list"}));
        i = j;
      }
      return Value::list(std::move(out));
    };
    t["indent"] = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'indent'", args, {"width", "first", "blank"});
      // jinja2 runs `s += "\n"` on the value itself, which only a str survives.
      if (v.is_undefined()) ops::fail_undefined(v);
      if (v.is_list() && !v.is_tuple()) fail("'list' object has no attribute 'splitlines'");
      if (!v.is_string()) fail("unsupported operand type(s) for +=: '", v.type_name(), "' and 'str'");
      return str_value(indent_text(v.str(), p.get(0, Value::integer(4)), p.boolean(1, false), p.boolean(2, false)));
    };
    t["int"] = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'int'", args, {"default", "base"});
      if (v.is_undefined()) ops::fail_undefined(v);
      const int base = static_cast<int>(p.integer(1, 10));
      std::optional<int64_t> i = v.is_string() ? ops::to_int(v, base) : ops::to_int(v);
      if (!i) {
        if (std::optional<double> f = ops::to_float(v)) i = ops::to_int(Value::number(*f));
      }
      return i ? Value::integer(*i) : p.get(0, Value::integer(0));
    };
    t["items"] = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'items'", args, {});
      std::vector<Value> out;
      if (v.is_undefined()) return Value::list(std::move(out));
      if (!v.is_dict()) fail("Can only get item pairs from a mapping.");
      for (const auto& [k, val] : v.dict().entries) out.push_back(Value::list({k, val}, true));
      return Value::list(std::move(out));
    };
    t["join"] = [](Interpreter& in, const Value& v, CallArgs& args, int) {
      Params p("filter 'join'", args, {"d", "attribute"});
      const std::string sep = p.has(0) ? soft_str(p[0]) : std::string();
      std::vector<std::string> parts;
      for (const Value& item : in.items_of(v))
        parts.push_back(soft_str(p.has(1) && !p[1].is_none() ? get_path(in, item, p[1], std::nullopt) : item));
      return str_value(join_strings(parts, sep));
    };
    t["list"] = [](Interpreter& in, const Value& v, CallArgs& args, int) {
      Params p("filter 'list'", args, {});
      return to_list(in, v);
    };
    t["lower"] = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'lower'", args, {});
      return str_value(pystr::lower(soft_str(v)));
    };
    t["upper"] = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'upper'", args, {});
      return str_value(pystr::upper(soft_str(v)));
    };
    t["title"] = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'title'", args, {});
      return str_value(jinja_title(soft_str(v)));
    };
    t["map"] = [](Interpreter& in, const Value& v, CallArgs& args, int line) {
      std::vector<Value> out;
      if (!v.truthy()) return Value::list(std::move(out));  // jinja2: `if value:` before mapping
      const bool by_attribute =
          args.positional.empty() &&
          std::any_of(args.keyword.begin(), args.keyword.end(), [](const auto& kv) { return kv.first == "attribute"; });
      if (by_attribute) {
        Params p("filter 'map'", args, {"attribute", "default"});
        std::optional<Value> fallback;
        if (p.has(1) && !p[1].is_none()) fallback = p[1];
        for (const Value& item : in.items_of(v)) out.push_back(get_path(in, item, p[0], fallback));
        return Value::list(std::move(out));
      }
      if (args.positional.empty() || !args.positional[0].is_string()) fail("map requires a filter argument");
      const std::string name = args.positional[0].str();
      CallArgs rest{std::vector<Value>(args.positional.begin() + 1, args.positional.end()), args.keyword};
      for (const Value& item : in.items_of(v)) {
        CallArgs a = rest;
        out.push_back(in.filter(name, item, a, line));
      }
      return Value::list(std::move(out));
    };
    t["max"] = [](Interpreter& in, const Value& v, CallArgs& args, int) {
      return min_or_max(in, v, args, true, "filter 'max'");
    };
    t["min"] = [](Interpreter& in, const Value& v, CallArgs& args, int) {
      return min_or_max(in, v, args, false, "filter 'min'");
    };
    t["pprint"] = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'pprint'", args, {});
      return str_value(to_repr(v));
    };
    t["reject"] = [](Interpreter& in, const Value& v, CallArgs& args, int line) {
      return select_or_reject(in, v, args, line, false, false, "filter 'reject'");
    };
    t["select"] = [](Interpreter& in, const Value& v, CallArgs& args, int line) {
      return select_or_reject(in, v, args, line, true, false, "filter 'select'");
    };
    t["rejectattr"] = [](Interpreter& in, const Value& v, CallArgs& args, int line) {
      return select_or_reject(in, v, args, line, false, true, "filter 'rejectattr'");
    };
    t["selectattr"] = [](Interpreter& in, const Value& v, CallArgs& args, int line) {
      return select_or_reject(in, v, args, line, true, true, "filter 'selectattr'");
    };
    t["replace"] = [](Interpreter& in, const Value& v, CallArgs& args, int) {
      Params p("filter 'replace'", args, {"old", "new", "count"});
      if (!p.has(0) || !p.has(1)) fail("filter 'replace' needs the old and the new text");
      CallArgs a{{Value::string(soft_str(p[0])), Value::string(soft_str(p[1]))}, {}};
      if (p.has(2) && !p[2].is_none()) a.positional.push_back(p[2]);
      std::optional<Value> method = attribute(in, Value::string(soft_str(v)), "replace");
      return in.call(*method, a, 0);
    };
    t["reverse"] = [](Interpreter& in, const Value& v, CallArgs& args, int) {
      Params p("filter 'reverse'", args, {});
      if (v.is_string()) {
        std::vector<char32_t> cps = pystr::decode(v.str());
        std::reverse(cps.begin(), cps.end());
        return str_value(pystr::encode(cps));
      }
      if (!v.is_list() && !v.is_dict() && !v.is_range() && !v.is_undefined()) fail("argument must be iterable");
      std::vector<Value> items = in.items_of(v);
      std::reverse(items.begin(), items.end());
      return Value::list(std::move(items));
    };
    t["round"] = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'round'", args, {"precision", "method"});
      const int64_t precision = p.integer(0, 0);
      const std::string method = p.str(1, "common");
      if (method != "common" && method != "ceil" && method != "floor") fail("method must be common, ceil or floor");
      if (v.is_undefined()) ops::fail_undefined(v);
      if (!v.is_number()) fail("type ", v.type_name(), " doesn't define __round__ method");
      if (method == "common") {
        if (v.is_int()) {
          if (precision >= 0) return Value::integer(v.as_int());
          const double r = py_round(static_cast<double>(v.as_int()), precision);
          if (!(std::fabs(r) < 9.2e18)) fail("integer overflow");
          return Value::integer(static_cast<int64_t>(r));
        }
        return Value::number(py_round(v.as_float(), precision));
      }
      const double scale = std::pow(10.0, static_cast<double>(precision));
      const double x = v.as_float() * scale;
      return Value::number((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
    };
    auto safe = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'safe'", args, {});
      return str_value(soft_str(v));
    };
    t["safe"] = safe;
    t["string"] = safe;
    t["sort"] = [](Interpreter& in, const Value& v, CallArgs& args, int) {
      Params p("filter 'sort'", args, {"reverse", "case_sensitive", "attribute"});
      const bool rev = p.boolean(0, false), cs = p.boolean(1, false);
      std::vector<Value> items = in.items_of(v);
      std::vector<Value> attrs;
      if (p.has(2) && !p[2].is_none()) {
        if (p[2].is_string()) {
          for (const std::string& a : pystr::split(p[2].str(), std::string(","), -1, false))
            attrs.push_back(Value::string(a));
        } else {
          attrs.push_back(p[2]);
        }
      }
      std::vector<std::pair<Value, Value>> keyed;
      for (const Value& item : items) {
        Value k;
        if (attrs.empty()) {
          k = cs ? item : ignore_case(item);
        } else {
          std::vector<Value> parts;
          for (const Value& a : attrs) {
            Value part = get_path(in, item, a, std::nullopt);
            parts.push_back(cs ? part : ignore_case(part));
          }
          k = parts.size() == 1 ? parts[0] : Value::list(std::move(parts), true);
        }
        keyed.emplace_back(std::move(k), item);
      }
      std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
        return rev ? sort_less(b.first, a.first) : sort_less(a.first, b.first);
      });
      std::vector<Value> out;
      for (auto& [k, item] : keyed) out.push_back(std::move(item));
      return Value::list(std::move(out));
    };
    t["sum"] = [](Interpreter& in, const Value& v, CallArgs& args, int) {
      Params p("filter 'sum'", args, {"attribute", "start"});
      Value total = p.get(1, Value::integer(0));
      for (const Value& item : in.items_of(v))
        total =
            ops::binary(BinOp::Add, total, p.has(0) && !p[0].is_none() ? get_path(in, item, p[0], std::nullopt) : item);
      return total;
    };
    t["tojson"] = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'tojson'", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
      return str_value(to_json(v, json_options(p)));
    };
    t["trim"] = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'trim'", args, {"chars"});
      std::optional<std::string> chars;
      if (p.has(0) && !p[0].is_none()) chars = soft_str(p[0]);
      return str_value(pystr::strip(soft_str(v), chars, true, true));
    };
    t["truncate"] = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'truncate'", args, {"length", "killwords", "end", "leeway"});
      const std::string s = soft_str(v);
      const int64_t length = std::clamp<int64_t>(p.integer(0, 255), -1, 1 << 30);
      const std::string end = p.str(2, "...");
      const int64_t leeway = std::clamp<int64_t>(p.integer(3, 5), 0, 1 << 30);
      std::vector<char32_t> cps = pystr::decode(s);
      const int64_t end_len = static_cast<int64_t>(pystr::length(end));
      if (length < end_len) fail("expected length >= ", end_len, ", got ", length);
      if (static_cast<int64_t>(cps.size()) <= length + leeway) return str_value(s);
      std::string head = pystr::encode(cps, 0, static_cast<size_t>(length - end_len));
      if (p.boolean(1, false)) return str_value(head + end);
      std::vector<std::string> parts = pystr::split(head, std::string(" "), 1, true);
      return str_value(parts[0] + end);
    };
    t["unique"] = [](Interpreter& in, const Value& v, CallArgs& args, int) {
      Params p("filter 'unique'", args, {"case_sensitive", "attribute"});
      const bool cs = p.boolean(0, false);
      std::vector<Value> out;
      DictData seen;  // hashes what it can, like Python's set
      for (const Value& item : in.items_of(v)) {
        Value k = p.has(1) && !p[1].is_none() ? get_path(in, item, p[1], std::nullopt) : item;
        if (!cs) k = ignore_case(k);
        if (k.is_list() && !k.is_tuple()) fail("unhashable type: 'list'");
        if (k.is_dict()) fail("unhashable type: 'dict'");
        if (seen.find(k)) continue;
        seen.set(k, Value::none());
        out.push_back(item);
      }
      return Value::list(std::move(out));
    };
    t["wordcount"] = [](Interpreter&, const Value& v, CallArgs& args, int) {
      Params p("filter 'wordcount'", args, {});
      return Value::integer(static_cast<int64_t>(word_count(soft_str(v))));
    };
    t["batch"] = [](Interpreter& in, const Value& v, CallArgs& args, int) {
      Params p("filter 'batch'", args, {"linecount", "fill_with"});
      const int64_t n = p.integer(0, 1);
      if (n <= 0) fail("filter 'batch' needs a positive line count");
      std::vector<Value> out, cur;
      for (const Value& item : in.items_of(v)) {
        cur.push_back(item);
        if (static_cast<int64_t>(cur.size()) == n) {
          out.push_back(Value::list(std::move(cur)));
          cur.clear();
        }
      }
      if (!cur.empty()) {
        if (p.has(1) && !p[1].is_none())
          while (static_cast<int64_t>(cur.size()) < n) cur.push_back(p[1]);
        out.push_back(Value::list(std::move(cur)));
      }
      return Value::list(std::move(out));
    };
    return t;
  }();
  return table;
}

// ---- tests ----

using TestFn = std::function<bool(Interpreter&, const Value&, const Params&)>;

Value mod(const Value& a, const Value& b) { return ops::binary(BinOp::Mod, a, b); }

const std::unordered_map<std::string, std::pair<std::vector<const char*>, TestFn>>& tests() {
  static const std::unordered_map<std::string, std::pair<std::vector<const char*>, TestFn>> table = [] {
    std::unordered_map<std::string, std::pair<std::vector<const char*>, TestFn>> t;
    auto add = [&](std::initializer_list<const char*> names, std::vector<const char*> params, TestFn fn) {
      for (const char* n : names) t[n] = {params, fn};
    };
    add({"defined"}, {}, [](Interpreter&, const Value& v, const Params&) { return !v.is_undefined(); });
    add({"undefined"}, {}, [](Interpreter&, const Value& v, const Params&) { return v.is_undefined(); });
    add({"none"}, {}, [](Interpreter&, const Value& v, const Params&) { return v.is_none(); });
    add({"boolean"}, {}, [](Interpreter&, const Value& v, const Params&) { return v.is_bool(); });
    add({"true"}, {}, [](Interpreter&, const Value& v, const Params&) { return v.is_bool() && v.as_bool(); });
    add({"false"}, {}, [](Interpreter&, const Value& v, const Params&) { return v.is_bool() && !v.as_bool(); });
    add({"integer"}, {}, [](Interpreter&, const Value& v, const Params&) { return v.kind() == Kind::Int; });
    add({"float"}, {}, [](Interpreter&, const Value& v, const Params&) { return v.is_float(); });
    add({"number"}, {}, [](Interpreter&, const Value& v, const Params&) { return v.is_number(); });
    add({"string"}, {}, [](Interpreter&, const Value& v, const Params&) { return v.is_string(); });
    add({"mapping"}, {}, [](Interpreter&, const Value& v, const Params&) { return v.is_dict(); });
    add({"iterable"}, {}, [](Interpreter&, const Value& v, const Params&) {
      return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict() || v.is_range();
    });
    add({"sequence"}, {}, [](Interpreter&, const Value& v, const Params&) {
      return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict() || v.is_range();
    });
    // jinja2's Undefined has __call__ (it raises), so Python's callable() says True.
    add({"callable"}, {},
        [](Interpreter&, const Value& v, const Params&) { return v.is_callable() || v.is_undefined(); });
    add({"odd"}, {}, [](Interpreter&, const Value& v, const Params&) {
      return equals(mod(v, Value::integer(2)), Value::integer(1));
    });
    add({"even"}, {}, [](Interpreter&, const Value& v, const Params&) {
      return equals(mod(v, Value::integer(2)), Value::integer(0));
    });
    add({"divisibleby"}, {"num"},
        [](Interpreter&, const Value& v, const Params& p) { return equals(mod(v, p[0]), Value::integer(0)); });
    add({"eq", "equalto", "=="}, {"other"},
        [](Interpreter&, const Value& v, const Params& p) { return equals(v, p[0]); });
    add({"ne", "!="}, {"other"}, [](Interpreter&, const Value& v, const Params& p) { return !equals(v, p[0]); });
    add({"lt", "lessthan", "<"}, {"other"},
        [](Interpreter&, const Value& v, const Params& p) { return ops::compare(CmpOp::Lt, v, p[0]); });
    add({"le", "<="}, {"other"},
        [](Interpreter&, const Value& v, const Params& p) { return ops::compare(CmpOp::Le, v, p[0]); });
    add({"gt", "greaterthan", ">"}, {"other"},
        [](Interpreter&, const Value& v, const Params& p) { return ops::compare(CmpOp::Gt, v, p[0]); });
    add({"ge", ">="}, {"other"},
        [](Interpreter&, const Value& v, const Params& p) { return ops::compare(CmpOp::Ge, v, p[0]); });
    add({"in"}, {"seq"}, [](Interpreter&, const Value& v, const Params& p) { return ops::contains(p[0], v); });
    add({"sameas"}, {"other"}, [](Interpreter&, const Value& v, const Params& p) {
      const Value& o = p[0];
      if (v.kind() != o.kind()) return false;
      switch (v.kind()) {
        case Kind::None:
        case Kind::Undefined:
          return true;
        case Kind::Bool:
          return v.as_bool() == o.as_bool();
        case Kind::Int:
          return v.as_int() == o.as_int() && v.as_int() >= -5 && v.as_int() <= 256;  // CPython's small ints
        default:
          return equals(v, o) && (v.is_namespace() || v.is_callable());
      }
    });
    add({"lower"}, {}, [](Interpreter&, const Value& v, const Params&) { return py_islower(to_str(v)); });
    add({"upper"}, {}, [](Interpreter&, const Value& v, const Params&) { return py_isupper(to_str(v)); });
    add({"escaped"}, {}, [](Interpreter&, const Value&, const Params&) { return false; });
    add({"filter"}, {},
        [](Interpreter&, const Value& v, const Params&) { return v.is_string() && has_filter(v.str()); });
    add({"test"}, {}, [](Interpreter&, const Value& v, const Params&) { return v.is_string() && has_test(v.str()); });
    return t;
  }();
  return table;
}

}  // namespace

Value filter(Interpreter& in, const std::string& name, const Value& value, CallArgs& args, int line) {
  const auto& table = filters();
  auto it = table.find(name);
  if (it == table.end()) fail("no filter named '", name, "'");
  in.add_work(Interpreter::cost_of(value));
  Value r = it->second(in, value, args, line);
  in.add_work(Interpreter::cost_of(r));
  return r;
}

bool test(Interpreter& in, const std::string& name, const Value& value, CallArgs& args, int) {
  const auto& table = tests();
  auto it = table.find(name);
  if (it == table.end()) fail("no test named '", name, "'");
  const auto& [params, fn] = it->second;
  std::initializer_list<const char*> none = {};
  Params p =
      params.empty() ? Params("test '" + name + "'", args, none) : Params("test '" + name + "'", args, {params[0]});
  if (!params.empty() && !p.has(0)) fail("test '", name, "' needs an argument");
  return fn(in, value, p);
}

bool has_filter(const std::string& name) { return filters().count(name) != 0; }
bool has_test(const std::string& name) { return tests().count(name) != 0; }

std::string join_strings(const std::vector<std::string>& parts, const std::string& sep) {
  size_t total = 0;
  for (const auto& p : parts) total += p.size() + sep.size();
  check_string_size(total, "join");
  std::string out;
  out.reserve(total);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

bool py_islower(const std::string& s) {
  bool cased = false;
  for (char32_t c : pystr::decode(s)) {
    if (pystr::is_upper_cp(c)) return false;
    if (pystr::is_lower_cp(c)) cased = true;
  }
  return cased;
}

bool py_isupper(const std::string& s) {
  bool cased = false;
  for (char32_t c : pystr::decode(s)) {
    if (pystr::is_lower_cp(c)) return false;
    if (pystr::is_upper_cp(c)) cased = true;
  }
  return cased;
}

}  // namespace shardlm::jinja::builtins
