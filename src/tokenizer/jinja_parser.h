// The syntax tree of a chat template and the parser that builds it from jinja_lexer's tokens, following
// jinja2's grammar: expressions with Python precedence (`a if c else b`, or, and, not, comparisons and `in`,
// + -, ~, * / // %, **, unary minus, filters and `is` tests, attribute/item/slice/call postfixes, literals)
// and the statements chat templates use: if/elif/else, for (with `if` filters, `else`, tuple targets),
// set (names, tuples, namespace attributes, blocks), macro, call, filter, with, block, generation, break and
// continue. Nesting is bounded so a hostile template fails with an Error rather than overflowing the stack.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/jinja_lexer.h"
#include "tokenizer/jinja_value.h"

namespace shardlm::jinja {

// Deepest nesting of brackets, unary operators and statements a template may have, and the deepest syntax
// tree of one expression (`1 + 1 + ... + 1` is a tree as deep as it is long).
constexpr int kMaxParseDepth = 256;
constexpr int kMaxExprDepth = 512;

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  Const,
  Name,
  List,
  Tuple,
  Dict,
  Attr,
  Item,
  Slice,
  Call,
  Filter,
  Test,
  Not,
  Neg,
  Pos,
  Binary,
  Concat,
  Compare,
  And,
  Or,
  Cond
};
enum class BinOp { Add, Sub, Mul, Div, FloorDiv, Mod, Pow };
enum class CmpOp { Eq, Ne, Lt, Le, Gt, Ge, In, NotIn };

struct Arg {
  std::string name;  // set for a keyword argument
  ExprPtr value;
};
struct Args {
  std::vector<Arg> args;
  ExprPtr star, star_star;  // *args, **kwargs
};

struct Expr {
  ExprKind kind = ExprKind::Const;
  int line = 0;
  Value value;       // Const
  std::string name;  // Name; Attr's attribute; Filter/Test name
  // Attr, Item, Filter, Test, Not/Neg/Pos, Call (callee): a. Item: b is the key. Binary: a op b.
  // Cond: a if b else c (c may be null). Slice: a:b:c, each may be null. And/Or: a, b.
  ExprPtr a, b, c;
  std::vector<ExprPtr> items;  // List/Tuple/Concat operands; Dict: key, value, key, value...; Compare: a op items[i]...
  BinOp op = BinOp::Add;
  std::vector<CmpOp> cmp;  // Compare: one per items[i]
  Args args;               // Call, Filter, Test
  bool negated = false;    // Test: `is not`
  int depth = 1;           // of the tree below this node
  // Built from literals and operators only: jinja2 folds such expressions at compile time, which changes
  // what slicing a non-sequence gives (an Undefined instead of a TypeError).
  bool constant = false;
};

// An assignment target: a name, a namespace attribute (name.attr), or a tuple of targets.
struct Target {
  std::string name;
  std::string attr;
  std::vector<Target> items;
  bool is_tuple = false;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class StmtKind {
  Text,
  Print,
  If,
  For,
  Set,
  SetBlock,
  Macro,
  CallBlock,
  FilterBlock,
  With,
  Block,
  Break,
  Continue
};

struct MacroDef {
  std::string name;  // "caller" for a {% call %} body
  int line = 0;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // one per param; null when the param has no default
  Body body;
  bool uses_caller = false, uses_varargs = false, uses_kwargs = false;
};

struct Stmt {
  StmtKind kind = StmtKind::Text;
  int line = 0;
  std::string text;  // Text
  std::vector<ExprPtr>
      exprs;  // Print: values; If: one condition per branch; For: iterable[, filter]; Set: value; With: values
  std::vector<Body> bodies;         // If: one per branch; For/SetBlock/FilterBlock/With/Block: the body
  Body else_body;                   // If, For
  std::vector<Target> targets;      // For, Set, SetBlock: one; With: one per value
  std::shared_ptr<MacroDef> macro;  // Macro; CallBlock: the caller's signature and body
  ExprPtr call;                     // CallBlock: the call; SetBlock/FilterBlock: filters (innermost operand null)
  bool has_filter = false;          // For: exprs[1] is the loop's `if` filter
};

struct Template {
  std::shared_ptr<const Source> source;
  Body body;
};

// Throws shardlm::Error "chat template: line L, column C: <what was expected>" on a syntax error.
std::shared_ptr<const Template> parse_template(std::string_view text);

}  // namespace shardlm::jinja
