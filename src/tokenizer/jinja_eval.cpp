// The chat template interpreter (see jinja_eval.h).
#include "tokenizer/jinja_eval.h"

#include <cmath>
#include <utility>

#include "core/error.h"
#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_ops.h"

namespace shardlm::jinja {

// One scope: the template's top level, a loop iteration, a macro call, a block body.
struct Frame {
  FramePtr parent;
  std::vector<std::pair<std::string, Value>> vars;

  const Value* find(const std::string& name) const {
    for (const auto& [k, v] : vars)
      if (k == name) return &v;
    return nullptr;
  }
  void set(const std::string& name, Value value) {
    for (auto& [k, v] : vars)
      if (k == name) {
        v = std::move(value);
        return;
      }
    vars.emplace_back(name, std::move(value));
  }
};

namespace {

FramePtr child(const FramePtr& parent) {
  auto f = std::make_shared<Frame>();
  f->parent = parent;
  return f;
}

struct Depth {
  int& d;
  Depth(int& depth, int limit, const char* what) : d(depth) {
    if (++d > limit) {
      --d;
      fail(what, " nest deeper than ", limit, " levels");
    }
  }
  ~Depth() { --d; }
};

// Namespaces may not hold namespaces, even inside lists, loops or bound methods: a namespace that reaches
// itself would be a reference cycle that is never freed.
bool holds_namespace(const Value& v) {
  switch (v.kind()) {
    case Kind::Namespace:
      return true;
    case Kind::List:
      for (const Value& item : v.items())
        if (holds_namespace(item)) return true;
      return false;
    case Kind::Dict:
      for (const auto& [k, item] : v.dict().entries)
        if (holds_namespace(item)) return true;
      return false;
    case Kind::Loop:
      for (const Value& item : *v.loop().seq)
        if (holds_namespace(item)) return true;
      return false;
    case Kind::Function:
      return holds_namespace(v.function().self);
    default:
      return false;
  }
}

}  // namespace

Interpreter::Interpreter(const Template& tmpl, RenderOptions options) : tmpl_(tmpl), options_(options) {}

void Interpreter::fail_at(int line, const std::string& what) const {
  throw TemplateError(str_cat("chat template: line ", line, ": ", what));
}

void Interpreter::add_work(size_t units) {
  work_ += units;
  if (work_ > kMaxWork)
    fail("the template took more than ", kMaxWork,
         " steps (loops, macro calls and built values); it loops or "
         "recurses too much");
}

void Interpreter::append_output(std::string& out, std::string_view text) {
  check_string_size(out.size() + text.size(), "the rendered output");
  add_work(text.size() / 16);
  out.append(text);
}

std::string Interpreter::render(const Value& context) {
  auto root = std::make_shared<Frame>();
  if (context.is_dict()) {
    for (const auto& [k, v] : context.dict().entries)
      if (k.is_string()) root->set(k.str(), v);
  }
  std::string out;
  exec_body(tmpl_.body, root, out);
  return out;
}

Value Interpreter::lookup(const std::string& name, const FramePtr& frame) const {
  for (const Frame* f = frame.get(); f; f = f->parent.get())
    if (const Value* v = f->find(name)) return *v;
  if (std::optional<Value> g = builtins::global(name)) return *g;
  return Value::undefined("'" + name + "' is undefined");
}

std::vector<Value> Interpreter::items_of(const Value& v) {
  std::vector<Value> items = ops::iterate(v);
  add_work(items.size());
  return items;
}

Value Interpreter::attribute(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) ops::fail_undefined(obj);
  if (std::optional<Value> a = builtins::attribute(*this, obj, name)) return *a;
  if (obj.is_dict() || obj.is_namespace()) {
    if (std::optional<Value> v = ops::item(obj, Value::string(name))) return *v;
  }
  return ops::missing(obj, Value::string(name));
}

Value Interpreter::item(const Value& obj, const Value& key) {
  if (std::optional<Value> v = ops::item(obj, key)) return *v;
  if (key.is_string()) {
    if (std::optional<Value> a = builtins::attribute(*this, obj, key.str())) return *a;
  }
  return ops::missing(obj, key);
}

Value Interpreter::call(const Value& callee, CallArgs& args, int line) {
  if (callee.is_undefined()) ops::fail_undefined(callee);
  if (!callee.is_callable()) fail(to_repr(callee).substr(0, 60), " (a ", callee.type_name(), ") is not callable");
  return callee.function().call(*this, args, line);
}

Value Interpreter::filter(const std::string& name, const Value& value, CallArgs& args, int line) {
  return builtins::filter(*this, name, value, args, line);
}

bool Interpreter::test(const std::string& name, const Value& value, CallArgs& args, int line) {
  return builtins::test(*this, name, value, args, line);
}

// ---- statements ----

Interpreter::Flow Interpreter::exec_body(const Body& body, const FramePtr& frame, std::string& out) {
  for (const auto& s : body) {
    const Flow flow = exec(*s, frame, out);
    if (flow != Flow::Normal) return flow;
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec(const Stmt& s, const FramePtr& frame, std::string& out) {
  if (s.kind == StmtKind::Text) {
    try {
      append_output(out, s.text);
    } catch (const TemplateError&) {
      throw;
    } catch (const Error& e) {
      fail_at(s.line, e.what());
    }
    return Flow::Normal;
  }
  try {
    Depth depth(eval_depth_, kMaxEvalDepth, "statements and expressions");
    return exec_inner(s, frame, out);
  } catch (const TemplateError&) {
    throw;
  } catch (const Error& e) {
    fail_at(s.line, e.what());
  }
}

Interpreter::Flow Interpreter::exec_inner(const Stmt& s, const FramePtr& frame, std::string& out) {
  switch (s.kind) {
    case StmtKind::Text:
      append_output(out, s.text);
      return Flow::Normal;
    case StmtKind::Print:
      for (const auto& e : s.exprs) {
        folding_ = e->constant;
        Value v;
        try {
          v = eval(*e, frame);
        } catch (...) {
          folding_ = false;
          throw;
        }
        folding_ = false;
        if (v.is_string()) {
          append_output(out, v.str());
        } else {
          std::string text;
          append_str(text, v);
          append_output(out, text);
        }
      }
      return Flow::Normal;
    case StmtKind::If:
      for (size_t i = 0; i < s.exprs.size(); ++i)
        if (eval(*s.exprs[i], frame).truthy()) return exec_body(s.bodies[i], frame, out);
      return exec_body(s.else_body, frame, out);
    case StmtKind::For:
      return exec_for(s, frame, out);
    case StmtKind::Set:
      assign(s.targets[0], eval(*s.exprs[0], frame), frame);
      return Flow::Normal;
    case StmtKind::SetBlock: {
      std::string text;
      const Flow flow = exec_body(s.bodies[0], child(frame), text);
      Value v = Value::string(std::move(text));
      if (s.call) v = apply_filters(*s.call, std::move(v), frame);
      assign(s.targets[0], v, frame);
      return flow;
    }
    case StmtKind::Macro:
      frame->set(s.macro->name, make_macro(s.macro, frame));
      return Flow::Normal;
    case StmtKind::CallBlock: {
      const Expr& call = *s.call;
      const Value callee = eval(*call.a, frame);
      CallArgs args = eval_args(call.args, frame);
      args.keyword.emplace_back("caller", make_macro(s.macro, frame));
      const Value result = this->call(callee, args, s.line);
      std::string text;
      append_str(text, result);
      append_output(out, text);
      return Flow::Normal;
    }
    case StmtKind::FilterBlock: {
      std::string text;
      const Flow flow = exec_body(s.bodies[0], child(frame), text);
      const Value v = apply_filters(*s.call, Value::string(std::move(text)), frame);
      std::string printed;
      append_str(printed, v);
      append_output(out, printed);
      return flow;
    }
    case StmtKind::With: {
      FramePtr inner = child(frame);
      for (size_t i = 0; i < s.targets.size(); ++i) assign(s.targets[i], eval(*s.exprs[i], frame), inner);
      return exec_body(s.bodies[0], inner, out);
    }
    case StmtKind::Block:
      return exec_body(s.bodies[0], child(frame), out);
    case StmtKind::Break:
      return Flow::Break;
    case StmtKind::Continue:
      return Flow::Continue;
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_for(const Stmt& s, const FramePtr& frame, std::string& out) {
  std::vector<Value> items = items_of(eval(*s.exprs[0], frame));
  if (s.has_filter) {
    std::vector<Value> kept;
    for (Value& item : items) {
      add_work(1);
      FramePtr probe = child(frame);
      assign(s.targets[0], item, probe);
      if (eval(*s.exprs[1], probe).truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec_body(s.else_body, frame, out);
  auto seq = std::make_shared<const std::vector<Value>>(std::move(items));
  for (size_t i = 0; i < seq->size(); ++i) {
    add_work(8);
    FramePtr iteration = child(frame);
    assign(s.targets[0], (*seq)[i], iteration);
    auto loop = std::make_shared<LoopData>();
    loop->index0 = i;
    loop->seq = seq;
    iteration->set("loop", Value::loop(std::move(loop)));
    if (exec_body(s.bodies[0], iteration, out) == Flow::Break) break;
  }
  return Flow::Normal;
}

void Interpreter::assign(const Target& target, const Value& value, const FramePtr& frame) {
  if (target.is_tuple) {
    std::vector<Value> items = items_of(value);
    if (items.size() < target.items.size())
      fail("not enough values to unpack (expected ", target.items.size(), ", got ", items.size(), ")");
    if (items.size() > target.items.size()) fail("too many values to unpack (expected ", target.items.size(), ")");
    for (size_t i = 0; i < items.size(); ++i) assign(target.items[i], items[i], frame);
    return;
  }
  if (target.attr.empty()) {
    frame->set(target.name, value);
    return;
  }
  const Value ns = lookup(target.name, frame);
  if (!ns.is_namespace()) fail("cannot assign attribute on non-namespace object");
  if (!target.attr.empty() && target.attr[0] == '_')
    fail("Chat templates cannot store underscore-prefixed attributes on a namespace, but got '", target.attr,
         "'. Please rename the attribute.");
  if (holds_namespace(value)) fail("a namespace cannot hold another namespace in a chat template");
  ns.ns().attrs.set(Value::string(target.attr), value);
}

Value Interpreter::make_macro(const std::shared_ptr<MacroDef>& def, const FramePtr& frame) {
  auto f = std::make_shared<FunctionData>();
  f->name = def->name == "caller" ? "caller" : "macro '" + def->name + "'";
  f->repr = "<Macro '" + def->name + "'>";
  // The closure holds the defining frame weakly: a macro stored in its own frame must not keep it alive.
  std::weak_ptr<Frame> weak = frame;
  f->call = [def, weak](Interpreter& in, CallArgs& args, int line) -> Value {
    FramePtr closure = weak.lock();
    if (!closure) fail("macro '", def->name, "' is called after its scope ended");
    return in.call_macro(*def, closure, args, line);
  };
  return Value::function(std::move(f));
}

Value Interpreter::call_macro(const MacroDef& def, const FramePtr& closure, CallArgs& args, int line) {
  Depth calls(call_depth_, kMaxCallDepth, "macro calls");
  add_work(16);
  FramePtr frame = child(closure);
  const std::string what = def.name == "caller" ? "caller()" : "macro '" + def.name + "'";
  std::vector<bool> bound(def.params.size(), false);
  std::vector<Value> extra;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < def.params.size()) {
      frame->set(def.params[i], args.positional[i]);
      bound[i] = true;
    } else if (def.uses_varargs) {
      extra.push_back(args.positional[i]);
    } else {
      fail(what, " takes not more than ", def.params.size(), " argument(s)");
    }
  }
  DictData kwargs;
  bool have_caller = false;
  for (auto& [name, value] : args.keyword) {
    bool matched = false;
    for (size_t i = 0; i < def.params.size(); ++i) {
      if (def.params[i] != name) continue;
      if (bound[i]) fail(what, " got multiple values for argument '", name, "'");
      frame->set(name, value);
      bound[i] = matched = true;
    }
    if (matched) continue;
    if (name == "caller" && def.uses_caller) {
      frame->set("caller", value);
      have_caller = true;
    } else if (def.uses_kwargs) {
      kwargs.set(Value::string(name), value);
    } else {
      fail(what, " takes no keyword argument '", name, "'");
    }
  }
  for (size_t i = 0; i < def.params.size(); ++i) {
    if (bound[i]) continue;
    if (def.defaults[i]) {
      frame->set(def.params[i], eval(*def.defaults[i], frame));
    } else {
      frame->set(def.params[i], Value::undefined("parameter '" + def.params[i] + "' was not provided"));
    }
  }
  if (def.uses_caller && !have_caller) frame->set("caller", Value::undefined("'caller' is undefined"));
  if (def.uses_varargs) frame->set("varargs", Value::list(std::move(extra), true));
  if (def.uses_kwargs) frame->set("kwargs", Value::dict(std::move(kwargs)));
  std::string out;
  exec_body(def.body, frame, out);
  return Value::string(std::move(out));
}

Value Interpreter::apply_filters(const Expr& chain, Value value, const FramePtr& frame) {
  // The chain nests as Filter(Filter(null, f1), f2); apply the innermost first.
  if (chain.a) value = apply_filters(*chain.a, std::move(value), frame);
  CallArgs args = eval_args(chain.args, frame);
  return filter(chain.name, value, args, chain.line);
}

// ---- expressions ----

Value Interpreter::eval(const Expr& e, const FramePtr& frame) {
  try {
    Depth depth(eval_depth_, kMaxEvalDepth, "statements and expressions");
    return eval_inner(e, frame);
  } catch (const TemplateError&) {
    throw;
  } catch (const Error& err) {
    fail_at(e.line, err.what());
  }
}

CallArgs Interpreter::eval_args(const Args& args, const FramePtr& frame) {
  CallArgs out;
  for (const Arg& a : args.args) {
    if (a.name.empty()) {
      out.positional.push_back(eval(*a.value, frame));
    } else {
      out.keyword.emplace_back(a.name, eval(*a.value, frame));
    }
  }
  if (args.star) {
    for (Value& v : items_of(eval(*args.star, frame))) out.positional.push_back(std::move(v));
  }
  if (args.star_star) {
    const Value kw = eval(*args.star_star, frame);
    if (!kw.is_dict()) fail("argument after ** must be a mapping, not ", kw.type_name());
    for (const auto& [k, v] : kw.dict().entries) {
      if (!k.is_string()) fail("keywords must be strings");
      out.keyword.emplace_back(k.str(), v);
    }
  }
  return out;
}

Value Interpreter::eval_inner(const Expr& e, const FramePtr& frame) {
  // Each kind has its own function so that the frame of this recursive dispatcher stays small.
  switch (e.kind) {
    case ExprKind::Const:
      return e.value;
    case ExprKind::Name:
      return lookup(e.name, frame);
    case ExprKind::List:
    case ExprKind::Tuple:
      return eval_list(e, frame);
    case ExprKind::Dict:
      return eval_dict(e, frame);
    case ExprKind::Attr:
      return attribute(eval(*e.a, frame), e.name);
    case ExprKind::Item:
      return eval_item(e, frame);
    case ExprKind::Slice:
      fail("a slice can only be used as a subscript, like x[1:2]");
    case ExprKind::Call:
    case ExprKind::Filter:
    case ExprKind::Test:
      return eval_call(e, frame);
    case ExprKind::Not:
      return Value::boolean(!eval(*e.a, frame).truthy());
    case ExprKind::Neg:
      return ops::negate(eval(*e.a, frame));
    case ExprKind::Pos:
      return ops::positive(eval(*e.a, frame));
    case ExprKind::Binary:
      return eval_binary(e, frame);
    case ExprKind::Concat:
      return eval_concat(e, frame);
    case ExprKind::Compare:
      return eval_compare(e, frame);
    case ExprKind::And: {
      Value a = eval(*e.a, frame);
      return a.truthy() ? eval(*e.b, frame) : a;
    }
    case ExprKind::Or: {
      Value a = eval(*e.a, frame);
      return a.truthy() ? a : eval(*e.b, frame);
    }
    case ExprKind::Cond:
      if (eval(*e.b, frame).truthy()) return eval(*e.a, frame);
      if (e.c) return eval(*e.c, frame);
      return Value::undefined(
          str_cat("the inline if-expression on line ", e.line, " evaluated to false and no else section was defined."));
  }
  fail("unknown expression");
}

Value Interpreter::eval_list(const Expr& e, const FramePtr& frame) {
  std::vector<Value> items;
  items.reserve(e.items.size());
  for (const auto& item : e.items) items.push_back(eval(*item, frame));
  add_work(items.size());
  return Value::list(std::move(items), e.kind == ExprKind::Tuple);
}

Value Interpreter::eval_dict(const Expr& e, const FramePtr& frame) {
  DictData d;
  for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
    Value key = eval(*e.items[i], frame);
    if ((key.is_list() && !key.is_tuple()) || key.is_dict() || key.is_namespace())
      fail("unhashable type: '", key.type_name(), "'");
    d.set(std::move(key), eval(*e.items[i + 1], frame));
  }
  add_work(d.size());
  return Value::dict(std::move(d));
}

Value Interpreter::eval_item(const Expr& e, const FramePtr& frame) {
  const Value obj = eval(*e.a, frame);
  if (e.b->kind == ExprKind::Slice) {
    const Expr& s = *e.b;
    const Value start = s.a ? eval(*s.a, frame) : Value::none();
    const Value stop = s.b ? eval(*s.b, frame) : Value::none();
    const Value step = s.c ? eval(*s.c, frame) : Value::none();
    add_work(cost_of(obj));
    // jinja2 compiles x[a:b] to a plain Python subscript (a TypeError for a non-sequence), except in a {{ }}
    // whose whole expression is constant: that one it evaluates at compile time through getitem.
    if (folding_ && !obj.is_undefined() && !obj.is_list() && !obj.is_string() && !obj.is_range())
      return ops::missing(obj, Value::string("slice"));
    return ops::slice(obj, start, stop, step);
  }
  return item(obj, eval(*e.b, frame));
}

Value Interpreter::eval_call(const Expr& e, const FramePtr& frame) {
  const Value v = e.a ? eval(*e.a, frame) : Value();
  CallArgs args = eval_args(e.args, frame);
  if (e.kind == ExprKind::Call) return call(v, args, e.line);
  if (e.kind == ExprKind::Filter) return filter(e.name, v, args, e.line);
  const bool r = test(e.name, v, args, e.line);
  return Value::boolean(e.negated ? !r : r);
}

Value Interpreter::eval_binary(const Expr& e, const FramePtr& frame) {
  const Value a = eval(*e.a, frame);
  const Value b = eval(*e.b, frame);
  if (e.op == BinOp::Pow && e.a->constant && !e.b->constant && a.is_number() &&
      (a.is_float() ? std::signbit(a.as_float()) : a.as_int() < 0)) {
    // jinja2 folds the constant to a literal and emits `-2 ** y`, which Python reads as -(2 ** y).
    return ops::negate(ops::binary(BinOp::Pow, ops::negate(a), b));
  }
  Value r = ops::binary(e.op, a, b);
  add_work(cost_of(r));
  return r;
}

Value Interpreter::eval_concat(const Expr& e, const FramePtr& frame) {
  std::string out;
  for (const auto& item : e.items) {
    const Value v = eval(*item, frame);
    if (v.is_string()) check_string_size(out.size() + v.str().size(), "'~' concatenation");
    append_str(out, v);
    check_string_size(out.size(), "'~' concatenation");
  }
  add_work(out.size() / 16);
  return Value::string(std::move(out));
}

Value Interpreter::eval_compare(const Expr& e, const FramePtr& frame) {
  Value left = eval(*e.a, frame);
  for (size_t i = 0; i < e.items.size(); ++i) {
    Value right = eval(*e.items[i], frame);
    add_work(cost_of(left) + cost_of(right));  // ==, < and `in` may walk whole containers
    if (!ops::compare(e.cmp[i], left, right)) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

size_t Interpreter::cost_of(const Value& v) {
  if (v.is_string()) return v.str().size() / 16;
  if (v.is_list()) return v.items().size() / 4;
  if (v.is_dict()) return v.dict().size() / 4;
  return 0;
}

}  // namespace shardlm::jinja
