// Rendering a parsed chat template: a tree-walking interpreter with jinja2's runtime semantics. Scopes are
// jinja2's: a for-loop body (each iteration) and a macro body get their own scope, `if` does not, so a
// {% set %} inside a loop is gone after it (templates use namespace() to carry values out). Undefined
// names and attributes render as "" and are falsy, and fail with jinja2's message when used for anything
// else. The work a render may do is bounded: output size, recursion depth, and a step budget that
// loop iterations, macro calls and built lists and strings draw from, so hostile templates fail with an
// Error instead of hanging or overflowing the stack.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/jinja_parser.h"
#include "tokenizer/jinja_value.h"

namespace shardlm::jinja {

constexpr int kMaxCallDepth = 256;            // macro calls nested in macro calls
constexpr int kMaxEvalDepth = 1024;           // expressions, statements and calls nested at run time
constexpr size_t kMaxWork = size_t{1} << 23;  // steps one render may take

struct RenderOptions {
  // The time strftime_now() reports, as Unix seconds shown in UTC; unset: the current local time.
  std::optional<int64_t> now;
};

struct Frame;
using FramePtr = std::shared_ptr<Frame>;

class Interpreter {
 public:
  Interpreter(const Template& tmpl, RenderOptions options);
  // Renders with the keys of `context` (a dict) as the template's variables.
  std::string render(const Value& context);

  // Services for the builtins.
  Value call(const Value& callee, CallArgs& args, int line);
  Value filter(const std::string& name, const Value& value, CallArgs& args, int line);
  bool test(const std::string& name, const Value& value, CallArgs& args, int line);
  Value attribute(const Value& obj, const std::string& name);  // obj.name as jinja2's sandboxed getattr
  Value item(const Value& obj, const Value& key);              // obj[key] as jinja2's sandboxed getitem
  std::vector<Value> items_of(const Value& v);                 // iter(v), charged to the step budget
  void add_work(size_t units);
  // Steps that working through `v` once takes (long strings, lists and dicts cost more).
  static size_t cost_of(const Value& v);
  const RenderOptions& options() const { return options_; }

 private:
  enum class Flow { Normal, Break, Continue };

  const Template& tmpl_;
  RenderOptions options_;
  size_t work_ = 0;
  int eval_depth_ = 0;
  int call_depth_ = 0;
  bool folding_ = false;  // evaluating a constant {{ }} expression, which jinja2 folds at compile time

  Flow exec_body(const Body& body, const FramePtr& frame, std::string& out);
  Flow exec(const Stmt& s, const FramePtr& frame, std::string& out);
  Flow exec_inner(const Stmt& s, const FramePtr& frame, std::string& out);
  Flow exec_for(const Stmt& s, const FramePtr& frame, std::string& out);
  Value eval(const Expr& e, const FramePtr& frame);
  Value eval_inner(const Expr& e, const FramePtr& frame);
  Value eval_list(const Expr& e, const FramePtr& frame);
  Value eval_dict(const Expr& e, const FramePtr& frame);
  Value eval_item(const Expr& e, const FramePtr& frame);
  Value eval_call(const Expr& e, const FramePtr& frame);
  Value eval_binary(const Expr& e, const FramePtr& frame);
  Value eval_concat(const Expr& e, const FramePtr& frame);
  Value eval_compare(const Expr& e, const FramePtr& frame);
  CallArgs eval_args(const Args& args, const FramePtr& frame);
  Value lookup(const std::string& name, const FramePtr& frame) const;
  void assign(const Target& target, const Value& value, const FramePtr& frame);
  Value make_macro(const std::shared_ptr<MacroDef>& def, const FramePtr& frame);
  Value call_macro(const MacroDef& def, const FramePtr& closure, CallArgs& args, int line);
  Value apply_filters(const Expr& chain, Value value, const FramePtr& frame);
  void append_output(std::string& out, std::string_view text);
  [[noreturn]] void fail_at(int line, const std::string& what) const;
};

}  // namespace shardlm::jinja
