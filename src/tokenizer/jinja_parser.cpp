// The chat template parser (see jinja_parser.h), following jinja2's grammar.
#include "tokenizer/jinja_parser.h"

#include <algorithm>
#include <initializer_list>

#include "core/error.h"

namespace shardlm::jinja {

namespace {

class Parser {
 public:
  Parser(const Source& source, std::vector<Token> tokens) : src_(source), toks_(std::move(tokens)) {}

  Body parse_all() {
    Body body = parse_body({}, nullptr);
    return body;
  }

 private:
  const Source& src_;
  std::vector<Token> toks_;
  size_t i_ = 0;
  int expr_depth_ = 0;
  int stmt_depth_ = 0;
  int loop_depth_ = 0;

  struct OpenBlock {
    std::vector<std::string_view> ends;
    const char* tag;
    size_t offset;
  };
  std::vector<OpenBlock> open_;

  struct DepthGuard {
    int& d;
    DepthGuard(Parser& p, int& depth, const Token& at, const char* what) : d(depth) {
      if (++d > kMaxParseDepth) p.error(at, str_cat(what, " nest deeper than ", kMaxParseDepth, " levels"));
    }
    ~DepthGuard() { --d; }
  };

  // ---- tokens ----
  const Token& cur() const { return toks_[i_]; }
  const Token& peek(size_t k = 1) const { return toks_[std::min(i_ + k, toks_.size() - 1)]; }
  const Token& next() {
    const Token& t = toks_[i_];
    if (i_ + 1 < toks_.size()) ++i_;
    return t;
  }
  int line_of(const Token& t) const { return src_.line(t.offset); }
  bool is_op(const Token& t, std::string_view op) const { return t.type == TokenType::Operator && t.text == op; }
  bool is_op(std::string_view op) const { return is_op(cur(), op); }
  bool is_name(const Token& t, std::string_view name) const { return t.type == TokenType::Name && t.text == name; }
  bool is_name(std::string_view name) const { return is_name(cur(), name); }
  bool skip_op(std::string_view op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!is_name(name)) return false;
    next();
    return true;
  }

  static std::string describe(const Token& t) {
    switch (t.type) {
      case TokenType::Text:
        return "template text";
      case TokenType::VarBegin:
        return "'{{'";
      case TokenType::VarEnd:
        return "'}}'";
      case TokenType::BlockBegin:
        return "'{%'";
      case TokenType::BlockEnd:
        return "'%}'";
      case TokenType::Name:
        return "'" + t.text + "'";
      case TokenType::String:
        return "a string";
      case TokenType::Integer:
      case TokenType::Float:
        return "the number " + t.text;
      case TokenType::Operator:
        return "'" + t.text + "'";
      case TokenType::End:
        return "the end of the template";
    }
    return "a token";
  }

  [[noreturn]] void error(const Token& at, const std::string& what) const {
    throw TemplateError(str_cat("chat template: ", src_.where(at.offset), ": ", what));
  }
  [[noreturn]] void expected(const std::string& what) const {
    error(cur(), str_cat("expected ", what, ", found ", describe(cur())));
  }
  void expect_op(std::string_view op) {
    if (!skip_op(op)) expected(str_cat("'", op, "'"));
  }
  void expect_name(std::string_view name) {
    if (!skip_name(name)) expected(str_cat("'", name, "'"));
  }
  const Token& expect_identifier() {
    if (cur().type != TokenType::Name) expected("a name");
    return next();
  }
  void expect_block_end() {
    if (cur().type != TokenType::BlockEnd) expected("'%}' to end the tag");
    next();
  }

  static ExprPtr make(ExprKind kind, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    return e;
  }
  // Records the depth of a finished node; fails past kMaxExprDepth.
  ExprPtr sized(ExprPtr e) const {
    int d = 0;
    auto up = [&](const ExprPtr& c) {
      if (c) d = std::max(d, c->depth);
    };
    up(e->a);
    up(e->b);
    up(e->c);
    for (const auto& item : e->items) up(item);
    for (const auto& arg : e->args.args) up(arg.value);
    up(e->args.star);
    up(e->args.star_star);
    e->depth = d + 1;
    if (e->depth > kMaxExprDepth) error(cur(), str_cat("an expression nests deeper than ", kMaxExprDepth, " levels"));
    switch (e->kind) {
      case ExprKind::List:
      case ExprKind::Tuple:
      case ExprKind::Dict:
      case ExprKind::Not:
      case ExprKind::Neg:
      case ExprKind::Pos:
      case ExprKind::Binary:
      case ExprKind::Concat:
      case ExprKind::Compare:
      case ExprKind::And:
      case ExprKind::Or:
      case ExprKind::Cond: {
        bool all = true;
        auto check = [&](const ExprPtr& c) { all = all && (!c || c->constant); };
        check(e->a);
        check(e->b);
        check(e->c);
        for (const auto& item : e->items) check(item);
        e->constant = all;
        break;
      }
      case ExprKind::Attr:
      case ExprKind::Item:
      case ExprKind::Slice:
      case ExprKind::Test:
      case ExprKind::Filter: {
        // jinja2 folds tests, attribute/item lookups and the filters that take no template context.
        static const char* const kContextFilters[] = {"map", "select", "reject", "selectattr", "rejectattr"};
        bool all = e->kind != ExprKind::Filter || e->a;
        for (const char* f : kContextFilters) all = all && !(e->kind == ExprKind::Filter && e->name == f);
        auto check = [&](const ExprPtr& c) { all = all && (!c || c->constant); };
        check(e->a);
        check(e->b);
        check(e->c);
        for (const auto& arg : e->args.args) check(arg.value);
        all = all && !e->args.star && !e->args.star_star;
        e->constant = all;
        break;
      }
      default:
        break;
    }
    return e;
  }

  StmtPtr make_stmt(StmtKind kind, const Token& at) const {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->line = line_of(at);
    return s;
  }

  // ---- statements ----

  // Parses statements until a {% name %} with name in `ends` (left as the current token, after '{%'), or
  // the end of the template when `ends` is empty.
  Body parse_body(std::initializer_list<std::string_view> ends, const Token* opener, const char* tag = nullptr) {
    if (opener) open_.push_back({std::vector<std::string_view>(ends), tag, opener->offset});
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.type == TokenType::Text) {
        auto s = make_stmt(StmtKind::Text, t);
        s->text = t.text;
        body.push_back(std::move(s));
        next();
      } else if (t.type == TokenType::VarBegin) {
        auto s = make_stmt(StmtKind::Print, t);
        next();
        s->exprs.push_back(parse_tuple(true, {}, false));
        if (cur().type != TokenType::VarEnd) expected("'}}' to end the expression");
        next();
        body.push_back(std::move(s));
      } else if (t.type == TokenType::BlockBegin) {
        next();
        if (cur().type == TokenType::Name) {
          for (std::string_view e : ends)
            if (cur().text == e) {
              if (opener) open_.pop_back();
              return body;
            }
        }
        body.push_back(parse_statement(t));
        expect_block_end();
      } else if (t.type == TokenType::End) {
        if (opener) {
          std::string list;
          for (size_t k = 0; k < open_.back().ends.size(); ++k)
            list += str_cat(k ? " or " : "", "'", open_.back().ends[k], "'");
          error(t, str_cat("unexpected end of template: the '", tag, "' tag at ", src_.where(opener->offset),
                           " is never closed (expected ", list, ")"));
        }
        return body;
      } else {
        error(t, str_cat("unexpected ", describe(t)));
      }
    }
  }

  [[noreturn]] void unknown_tag(const Token& name) const {
    static const char* const kEnds[] = {"endif",   "endfor",   "endset",        "endmacro", "endcall", "endfilter",
                                        "endwith", "endblock", "endgeneration", "elif",     "else",    "endraw"};
    bool is_end = false;
    for (const char* e : kEnds) is_end |= name.text == e;
    if (is_end && !open_.empty()) {
      const OpenBlock& b = open_.back();
      std::string list;
      for (size_t k = 0; k < b.ends.size(); ++k) list += str_cat(k ? " or " : "", "'", b.ends[k], "'");
      error(name, str_cat("unexpected '", name.text, "': expected ", list, " to close the '", b.tag, "' at ",
                          src_.where(b.offset)));
    }
    if (is_end) error(name, str_cat("unexpected '", name.text, "': no open tag to close"));
    static const char* const kUnsupported[] = {"extends", "include", "import", "from", "autoescape"};
    for (const char* u : kUnsupported)
      if (name.text == u) error(name, str_cat("the '", u, "' tag is not supported in chat templates"));
    error(name, str_cat("unknown tag '", name.text, "'"));
  }

  StmtPtr parse_statement(const Token& begin) {
    DepthGuard guard(*this, stmt_depth_, begin, "blocks");
    const Token& t = cur();
    if (t.type != TokenType::Name) expected("a tag name");
    const std::string& n = t.text;
    if (n == "if") return parse_if();
    if (n == "for") return parse_for();
    if (n == "set") return parse_set();
    if (n == "macro") return parse_macro();
    if (n == "call") return parse_call_block();
    if (n == "filter") return parse_filter_block();
    if (n == "with") return parse_with();
    if (n == "block" || n == "generation") return parse_block();
    if (n == "print") {
      auto s = make_stmt(StmtKind::Print, next());
      while (cur().type != TokenType::BlockEnd) {
        if (!s->exprs.empty()) expect_op(",");
        s->exprs.push_back(parse_expression(true));
      }
      return s;
    }
    if (n == "break" || n == "continue") {
      if (loop_depth_ == 0) error(t, str_cat("'", n, "' outside a for loop"));
      return make_stmt(n == "break" ? StmtKind::Break : StmtKind::Continue, next());
    }
    unknown_tag(t);
  }

  StmtPtr parse_if() {
    const Token& start = next();  // 'if'
    auto s = make_stmt(StmtKind::If, start);
    while (true) {
      s->exprs.push_back(parse_tuple(false, {}, false));
      expect_block_end();
      s->bodies.push_back(parse_body({"elif", "else", "endif"}, &start, "if"));
      const Token& end = next();
      if (end.text == "elif") continue;
      if (end.text == "else") {
        expect_block_end();
        s->else_body = parse_body({"endif"}, &start, "if");
        next();
      }
      break;
    }
    return s;
  }

  StmtPtr parse_for() {
    const Token& start = next();  // 'for'
    auto s = make_stmt(StmtKind::For, start);
    s->targets.push_back(parse_assign_target(false, "in"));
    expect_name("in");
    s->exprs.push_back(parse_tuple(false, {"recursive"}, false));
    if (skip_name("if")) {
      s->exprs.push_back(parse_expression(true));
      s->has_filter = true;
    }
    if (is_name("recursive")) error(cur(), "recursive loops are not supported in chat templates");
    expect_block_end();
    ++loop_depth_;
    s->bodies.push_back(parse_body({"endfor", "else"}, &start, "for"));
    --loop_depth_;
    if (next().text == "else") {
      expect_block_end();
      s->else_body = parse_body({"endfor"}, &start, "for");
      next();
    }
    return s;
  }

  StmtPtr parse_set() {
    const Token& start = next();  // 'set'
    Target target = parse_assign_target(true, {});
    if (skip_op("=")) {
      auto s = make_stmt(StmtKind::Set, start);
      s->targets.push_back(std::move(target));
      s->exprs.push_back(parse_tuple(true, {}, false));
      return s;
    }
    auto s = make_stmt(StmtKind::SetBlock, start);
    if (!target.attr.empty() || target.is_tuple) error(start, "a {% set %} block assigns to one name");
    s->targets.push_back(std::move(target));
    if (is_op("|")) s->call = parse_filter(nullptr, false);
    expect_block_end();
    s->bodies.push_back(parse_body({"endset"}, &start, "set"));
    next();
    return s;
  }

  void parse_signature(MacroDef& m) {
    expect_op("(");
    while (!is_op(")")) {
      if (!m.params.empty()) expect_op(",");
      if (is_op(")")) break;
      const Token& name = expect_identifier();
      m.params.push_back(name.text);
      if (skip_op("=")) {
        m.defaults.push_back(parse_expression(true));
      } else {
        for (const auto& d : m.defaults)
          if (d) error(name, "a parameter without a default follows one with a default");
        m.defaults.push_back(nullptr);
      }
    }
    expect_op(")");
  }

  StmtPtr parse_macro() {
    const Token& start = next();  // 'macro'
    auto s = make_stmt(StmtKind::Macro, start);
    s->macro = std::make_shared<MacroDef>();
    s->macro->name = expect_identifier().text;
    s->macro->line = line_of(start);
    parse_signature(*s->macro);
    expect_block_end();
    const int saved_loops = loop_depth_;
    loop_depth_ = 0;
    s->macro->body = parse_body({"endmacro"}, &start, "macro");
    loop_depth_ = saved_loops;
    next();
    scan_special_names(*s->macro);
    return s;
  }

  StmtPtr parse_call_block() {
    const Token& start = next();  // 'call'
    auto s = make_stmt(StmtKind::CallBlock, start);
    s->macro = std::make_shared<MacroDef>();
    s->macro->name = "caller";
    s->macro->line = line_of(start);
    if (is_op("(")) parse_signature(*s->macro);
    s->call = parse_expression(true);
    if (s->call->kind != ExprKind::Call) error(start, "{% call %} needs a macro call, like {% call m() %}");
    expect_block_end();
    const int saved_loops = loop_depth_;
    loop_depth_ = 0;
    s->macro->body = parse_body({"endcall"}, &start, "call");
    loop_depth_ = saved_loops;
    next();
    scan_special_names(*s->macro);
    return s;
  }

  StmtPtr parse_filter_block() {
    const Token& start = next();  // 'filter'
    auto s = make_stmt(StmtKind::FilterBlock, start);
    s->call = parse_filter(nullptr, true);
    expect_block_end();
    s->bodies.push_back(parse_body({"endfilter"}, &start, "filter"));
    next();
    return s;
  }

  StmtPtr parse_with() {
    const Token& start = next();  // 'with'
    auto s = make_stmt(StmtKind::With, start);
    while (cur().type != TokenType::BlockEnd) {
      if (!s->targets.empty()) expect_op(",");
      s->targets.push_back(parse_assign_target(false, {}));
      expect_op("=");
      s->exprs.push_back(parse_expression(true));
    }
    expect_block_end();
    s->bodies.push_back(parse_body({"endwith"}, &start, "with"));
    next();
    return s;
  }

  StmtPtr parse_block() {
    const Token& start = next();  // 'block' or 'generation'
    auto s = make_stmt(StmtKind::Block, start);
    const bool generation = start.text == "generation";
    std::string name;
    if (!generation) {
      name = expect_identifier().text;
      skip_name("scoped");
      skip_name("required");
    }
    expect_block_end();
    if (generation) {
      s->bodies.push_back(parse_body({"endgeneration"}, &start, "generation"));
      next();
    } else {
      s->bodies.push_back(parse_body({"endblock"}, &start, "block"));
      next();
      if (cur().type == TokenType::Name && cur().text == name) next();
    }
    return s;
  }

  // A name, a tuple of names (for/set), or ns.attr (set only).
  Target parse_assign_target(bool with_namespace, std::string_view end_name) {
    Target t;
    std::vector<Target> items;
    bool tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (cur().type == TokenType::BlockEnd || is_op("=") || is_op("|") || (!end_name.empty() && is_name(end_name)))
        break;
      items.push_back(parse_target_primary(with_namespace));
      if (is_op(",")) {
        tuple = true;
      } else {
        break;
      }
    }
    if (items.empty()) expected("a variable name to assign to");
    if (!tuple) return std::move(items[0]);
    t.is_tuple = true;
    t.items = std::move(items);
    return t;
  }

  Target parse_target_primary(bool with_namespace) {
    const Token& t = cur();
    if (is_op("(")) {
      next();
      Target inner = parse_assign_target(false, {});
      expect_op(")");
      return inner;
    }
    if (t.type != TokenType::Name) expected("a variable name to assign to");
    static const char* const kConstants[] = {"true", "false", "none", "True", "False", "None"};
    for (const char* c : kConstants)
      if (t.text == c) error(t, str_cat("cannot assign to the constant '", c, "'"));
    Target out;
    out.name = next().text;
    if (is_op(".")) {
      if (!with_namespace) error(cur(), "only {% set %} can assign to an attribute (of a namespace)");
      next();
      out.attr = expect_identifier().text;
    }
    return out;
  }

  // ---- expressions ----

  bool is_tuple_end(std::initializer_list<std::string_view> extra) const {
    const Token& t = cur();
    if (t.type == TokenType::VarEnd || t.type == TokenType::BlockEnd || is_op(t, ")")) return true;
    for (std::string_view e : extra)
      if (is_name(t, e)) return true;
    return false;
  }

  ExprPtr parse_tuple(bool with_condexpr, std::initializer_list<std::string_view> extra, bool explicit_parens) {
    const int line = line_of(cur());
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end(extra)) break;
      items.push_back(parse_expression(with_condexpr));
      if (is_op(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) expected("an expression");
    }
    auto e = make(ExprKind::Tuple, line);
    e->items = std::move(items);
    return sized(std::move(e));
  }

  ExprPtr parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }

  ExprPtr parse_condexpr() {
    ExprPtr expr = parse_or();
    while (is_name("if")) {
      const int line = line_of(next());
      ExprPtr cond = parse_or();
      ExprPtr otherwise;
      if (skip_name("else")) otherwise = parse_condexpr();
      auto e = make(ExprKind::Cond, line);
      e->a = std::move(expr);
      e->b = std::move(cond);
      e->c = std::move(otherwise);
      expr = sized(std::move(e));
    }
    return expr;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      auto e = make(ExprKind::Or, line_of(next()));
      e->a = std::move(left);
      e->b = parse_and();
      left = sized(std::move(e));
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      auto e = make(ExprKind::And, line_of(next()));
      e->a = std::move(left);
      e->b = parse_not();
      left = sized(std::move(e));
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this, expr_depth_, cur(), "expressions");
      auto e = make(ExprKind::Not, line_of(next()));
      e->a = parse_not();
      return sized(std::move(e));
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const int line = line_of(cur());
    ExprPtr expr = parse_math1();
    std::vector<ExprPtr> operands;
    std::vector<CmpOp> ops;
    while (true) {
      const Token& t = cur();
      CmpOp op;
      if (is_op(t, "=="))
        op = CmpOp::Eq;
      else if (is_op(t, "!="))
        op = CmpOp::Ne;
      else if (is_op(t, "<"))
        op = CmpOp::Lt;
      else if (is_op(t, "<="))
        op = CmpOp::Le;
      else if (is_op(t, ">"))
        op = CmpOp::Gt;
      else if (is_op(t, ">="))
        op = CmpOp::Ge;
      else if (is_name(t, "in"))
        op = CmpOp::In;
      else if (is_name(t, "not") && is_name(peek(), "in")) {
        next();
        op = CmpOp::NotIn;
      } else {
        break;
      }
      next();
      ops.push_back(op);
      operands.push_back(parse_math1());
    }
    if (ops.empty()) return expr;
    auto e = make(ExprKind::Compare, line);
    e->a = std::move(expr);
    e->items = std::move(operands);
    e->cmp = std::move(ops);
    return sized(std::move(e));
  }

  ExprPtr binary(BinOp op, ExprPtr left, ExprPtr right, int line) {
    auto e = make(ExprKind::Binary, line);
    e->op = op;
    e->a = std::move(left);
    e->b = std::move(right);
    return sized(std::move(e));
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& t = next();
      left = binary(t.text == "+" ? BinOp::Add : BinOp::Sub, std::move(left), parse_concat(), line_of(t));
    }
    return left;
  }

  ExprPtr parse_concat() {
    const int line = line_of(cur());
    ExprPtr first = parse_math2();
    if (!is_op("~")) return first;
    auto e = make(ExprKind::Concat, line);
    e->items.push_back(std::move(first));
    while (skip_op("~")) e->items.push_back(parse_math2());
    return sized(std::move(e));
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = next();
      const BinOp op = t.text == "*"    ? BinOp::Mul
                       : t.text == "/"  ? BinOp::Div
                       : t.text == "//" ? BinOp::FloorDiv
                                        : BinOp::Mod;
      left = binary(op, std::move(left), parse_pow(), line_of(t));
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      const Token& t = next();
      left = binary(BinOp::Pow, std::move(left), parse_unary(true), line_of(t));
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this, expr_depth_, cur(), "expressions");
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      const Token& t = next();
      node = make(t.text == "-" ? ExprKind::Neg : ExprKind::Pos, line_of(t));
      node->a = parse_unary(false);
      node = sized(std::move(node));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    const int line = line_of(t);
    if (t.type == TokenType::Name) {
      next();
      auto e = make(ExprKind::Const, line);
      e->constant = true;
      if (t.text == "true" || t.text == "True") {
        e->value = Value::boolean(true);
      } else if (t.text == "false" || t.text == "False") {
        e->value = Value::boolean(false);
      } else if (t.text == "none" || t.text == "None") {
        e->value = Value::none();
      } else {
        e->kind = ExprKind::Name;
        e->name = t.text;
        e->constant = false;
      }
      return e;
    }
    if (t.type == TokenType::String) {
      std::string s;
      while (cur().type == TokenType::String) s += next().text;
      auto e = make(ExprKind::Const, line);
      e->value = Value::string(std::move(s));
      e->constant = true;
      return e;
    }
    if (t.type == TokenType::Integer || t.type == TokenType::Float) {
      next();
      auto e = make(ExprKind::Const, line);
      e->value = t.type == TokenType::Integer ? Value::integer(t.int_value) : Value::number(t.float_value);
      e->constant = true;
      return e;
    }
    if (is_op(t, "(")) {
      next();
      ExprPtr e = parse_tuple(true, {}, true);
      expect_op(")");
      return e;
    }
    if (is_op(t, "[")) {
      next();
      auto e = make(ExprKind::List, line);
      while (!is_op("]")) {
        if (!e->items.empty()) expect_op(",");
        if (is_op("]")) break;
        e->items.push_back(parse_expression(true));
      }
      expect_op("]");
      return sized(std::move(e));
    }
    if (is_op(t, "{")) {
      next();
      auto e = make(ExprKind::Dict, line);
      while (!is_op("}")) {
        if (!e->items.empty()) expect_op(",");
        if (is_op("}")) break;
        e->items.push_back(parse_expression(true));
        expect_op(":");
        e->items.push_back(parse_expression(true));
      }
      expect_op("}");
      return sized(std::move(e));
    }
    error(t, str_cat("unexpected ", describe(t), ", expected an expression"));
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".") || is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        node = parse_filter(std::move(node), false);
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr node) {
    const Token& t = next();
    const int line = line_of(t);
    if (t.text == ".") {
      const Token& attr = cur();
      if (attr.type == TokenType::Name) {
        next();
        auto e = make(ExprKind::Attr, line);
        e->a = std::move(node);
        e->name = attr.text;
        return sized(std::move(e));
      }
      if (attr.type != TokenType::Integer) expected("an attribute name or a number after '.'");
      next();
      auto key = make(ExprKind::Const, line);
      key->value = Value::integer(attr.int_value);
      auto e = make(ExprKind::Item, line);
      e->a = std::move(node);
      e->b = std::move(key);
      return sized(std::move(e));
    }
    // '['
    std::vector<ExprPtr> args;
    while (!is_op("]")) {
      if (!args.empty()) expect_op(",");
      args.push_back(parse_subscribed());
    }
    expect_op("]");
    if (args.empty()) error(t, "empty subscript '[]'");
    auto e = make(ExprKind::Item, line);
    e->a = std::move(node);
    if (args.size() == 1) {
      e->b = std::move(args[0]);
    } else {
      auto tuple = make(ExprKind::Tuple, line);
      tuple->items = std::move(args);
      e->b = sized(std::move(tuple));
    }
    return sized(std::move(e));
  }

  ExprPtr parse_subscribed() {
    const int line = line_of(cur());
    ExprPtr start;
    if (!is_op(":")) {
      start = parse_expression(true);
      if (!is_op(":")) return start;
    }
    next();  // ':'
    auto e = make(ExprKind::Slice, line);
    e->a = std::move(start);
    if (!is_op(":") && !is_op("]") && !is_op(",")) e->b = parse_expression(true);
    if (skip_op(":")) {
      if (!is_op("]") && !is_op(",")) e->c = parse_expression(true);
    }
    return sized(std::move(e));
  }

  Args parse_call_args() {
    const Token& open = cur();
    expect_op("(");
    Args out;
    bool need_comma = false;
    bool seen_keyword = false;
    while (!is_op(")")) {
      if (need_comma) {
        expect_op(",");
        if (is_op(")")) break;
      }
      if (is_op("*")) {
        next();
        if (out.star || out.star_star) error(open, "invalid syntax for function call expression");
        out.star = parse_expression(true);
      } else if (is_op("**")) {
        next();
        if (out.star_star) error(open, "invalid syntax for function call expression");
        out.star_star = parse_expression(true);
      } else if (cur().type == TokenType::Name && is_op(peek(), "=")) {
        if (out.star_star) error(open, "invalid syntax for function call expression");
        Arg a;
        a.name = next().text;
        next();  // '='
        a.value = parse_expression(true);
        out.args.push_back(std::move(a));
        seen_keyword = true;
      } else {
        if (out.star || out.star_star || seen_keyword) error(cur(), "a positional argument follows a keyword argument");
        Arg a;
        a.value = parse_expression(true);
        out.args.push_back(std::move(a));
      }
      need_comma = true;
    }
    expect_op(")");
    return out;
  }

  ExprPtr parse_call(ExprPtr node) {
    auto e = make(ExprKind::Call, line_of(cur()));
    e->a = std::move(node);
    e->args = parse_call_args();
    return sized(std::move(e));
  }

  // `| name(args) | name ...`; `inline` starts right at a name ({% filter name %}).
  ExprPtr parse_filter(ExprPtr node, bool inline_start) {
    while (is_op("|") || inline_start) {
      if (!inline_start) next();
      inline_start = false;
      const Token& name = expect_identifier();
      auto e = make(ExprKind::Filter, line_of(name));
      e->name = name.text;
      while (skip_op(".")) e->name += "." + expect_identifier().text;
      if (is_op("(")) e->args = parse_call_args();
      e->a = std::move(node);
      node = sized(std::move(e));
    }
    return node;
  }

  ExprPtr parse_test(ExprPtr node) {
    const Token& is = next();  // 'is'
    auto e = make(ExprKind::Test, line_of(is));
    e->negated = skip_name("not");
    e->name = expect_identifier().text;
    while (skip_op(".")) e->name += "." + expect_identifier().text;
    const Token& t = cur();
    if (is_op(t, "(")) {
      e->args = parse_call_args();
    } else if ((t.type == TokenType::Name || t.type == TokenType::String || t.type == TokenType::Integer ||
                t.type == TokenType::Float || is_op(t, "[") || is_op(t, "{")) &&
               !is_name(t, "else") && !is_name(t, "or") && !is_name(t, "and")) {
      if (is_name(t, "is")) error(t, "tests cannot be chained with 'is'");
      Arg a;
      a.value = parse_postfix(parse_primary());
      e->args.args.push_back(std::move(a));
    }
    e->a = std::move(node);
    return sized(std::move(e));
  }

  // ---- macro bodies: which of caller / varargs / kwargs they read ----
  static void scan_expr(const Expr* e, MacroDef& m) {
    if (!e) return;
    if (e->kind == ExprKind::Name) {
      m.uses_caller |= e->name == "caller";
      m.uses_varargs |= e->name == "varargs";
      m.uses_kwargs |= e->name == "kwargs";
    }
    scan_expr(e->a.get(), m);
    scan_expr(e->b.get(), m);
    scan_expr(e->c.get(), m);
    for (const auto& item : e->items) scan_expr(item.get(), m);
    for (const auto& arg : e->args.args) scan_expr(arg.value.get(), m);
    scan_expr(e->args.star.get(), m);
    scan_expr(e->args.star_star.get(), m);
  }

  static void scan_body(const Body& body, MacroDef& m) {
    for (const auto& s : body) {
      for (const auto& e : s->exprs) scan_expr(e.get(), m);
      scan_expr(s->call.get(), m);
      for (const auto& b : s->bodies) scan_body(b, m);
      scan_body(s->else_body, m);
      if (s->macro) {
        for (const auto& d : s->macro->defaults) scan_expr(d.get(), m);
        if (s->kind == StmtKind::CallBlock) scan_body(s->macro->body, m);
      }
    }
  }

  static void scan_special_names(MacroDef& m) {
    scan_body(m.body, m);
    for (const auto& d : m.defaults) scan_expr(d.get(), m);
  }
};

}  // namespace

std::shared_ptr<const Template> parse_template(std::string_view text) {
  auto source = std::make_shared<const Source>(text);
  auto tmpl = std::make_shared<Template>();
  tmpl->source = source;
  Parser parser(*source, tokenize(*source));
  tmpl->body = parser.parse_all();
  return tmpl;
}

}  // namespace shardlm::jinja
