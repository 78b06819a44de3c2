// Python's operators on jinja values, as jinja2 evaluates them: arithmetic (int/float promotion, floor
// division and modulo with Python signs, 64-bit ints that fail on overflow instead of growing), str and
// list concatenation and repetition, `%` string formatting, comparisons and `in`, iteration, indexing and
// slicing by code point, and the Undefined values jinja2 returns for missing keys and attributes. Failures
// throw shardlm::Error with Python's message ("unsupported operand type(s) for +: 'int' and 'str'"); the
// interpreter adds the template line.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/jinja_parser.h"
#include "tokenizer/jinja_value.h"

namespace shardlm::jinja::ops {

Value binary(BinOp op, const Value& a, const Value& b);
Value negate(const Value& v);
Value positive(const Value& v);
bool compare(CmpOp op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);

// Raises the UndefinedError jinja2 raises when an Undefined is used for anything but printing or testing.
[[noreturn]] void fail_undefined(const Value& v);

// The items of an iterable, as Python's iter() yields them: list/tuple items, a str's characters, a dict's
// keys, a range's numbers; an Undefined yields nothing. Fails for other values.
std::vector<Value> iterate(const Value& v);
// len(); nullopt for values without a length.
std::optional<size_t> length(const Value& v);

// obj[key] without jinja2's fallbacks: nullopt when `obj` has no such item (the caller then tries an
// attribute, and otherwise makes missing(obj, key)). Fails for an Undefined obj.
std::optional<Value> item(const Value& obj, const Value& key);
// obj[start:stop:step]; each bound may be None/Undefined (absent).
Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
// The Undefined for a missing attribute or key of `obj` ("'dict object' has no attribute 'x'").
Value missing(const Value& obj, const Value& key);

// 'format' % args (str % value).
std::string percent_format(const std::string& format, const Value& args);
// 'format'.format(*args, **kwargs).
std::string str_format(const std::string& format, const std::vector<Value>& args,
                       const std::vector<std::pair<std::string, Value>>& kwargs);

// int(v) / float(v) as Python converts; nullopt where Python raises ValueError/TypeError.
std::optional<int64_t> to_int(const Value& v, int base = 10);
std::optional<double> to_float(const Value& v);

}  // namespace shardlm::jinja::ops
