// The restricted pickle stack machine. Opcode semantics follow CPython's Lib/pickle.py (_Unpickler.load_*).
#include "io/pickle.h"

#include <cstring>
#include <unordered_map>

#include "core/error.h"

namespace shardlm {

const char* pickle_kind_name(PickleValue::Kind kind) {
  using K = PickleValue::Kind;
  switch (kind) {
    case K::None:
      return "None";
    case K::Bool:
      return "bool";
    case K::Int:
      return "int";
    case K::Float:
      return "float";
    case K::String:
      return "str";
    case K::Bytes:
      return "bytes";
    case K::Tuple:
      return "tuple";
    case K::List:
      return "list";
    case K::Dict:
      return "dict";
    case K::Global:
      return "global";
    case K::Object:
      return "object";
  }
  return "?";
}

namespace {

using Kind = PickleValue::Kind;

class Unpickler {
 public:
  Unpickler(const uint8_t* bytes, size_t size, PickleArena& arena, PickleHooks& hooks, const std::string& what,
            uint64_t memory_limit)
      : bytes_(bytes), size_(size), arena_(arena), hooks_(hooks), what_(what), memory_limit_(memory_limit) {}

  PickleValue* run();

 private:
  [[noreturn]] void malformed(const std::string& why) const {
    fail(what_, ": malformed pickle at byte ", op_pos_, ": ", why);
  }
  // Called after every opcode; no single opcode allocates more than the input or the memory already counted.
  void check_memory() const {
    if (arena_.memory_bytes() <= memory_limit_) return;
    auto mib = [](uint64_t bytes) { return str_fixed((double)bytes / (1 << 20), 1); };
    fail(what_, ": refusing to unpickle: at byte ", op_pos_, " of ", size_, " the pickle holds about ",
         mib(arena_.memory_bytes()), " MiB (", arena_.num_values(), " values, ", memo_.size(),
         " memo entries), past the bound of ", mib(memory_limit_), " MiB for a pickle of ", size_, " bytes (",
         kPickleMemoryPerByte, " bytes per pickle byte + ", kPickleMemoryBaseBytes >> 20,
         " MiB; a torch.save state dict needs far less); the file is corrupt or not a state dict");
  }
  const uint8_t* take(uint64_t n) {
    if (n > size_ - pos_) malformed(str_cat("needs ", n, " more bytes but the pickle ends"));
    const uint8_t* p = bytes_ + pos_;
    pos_ += (size_t)n;
    return p;
  }
  uint64_t take_le(int n) {
    const uint8_t* p = take(n);
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  }
  std::string take_line() {
    if (pos_ >= size_) malformed("text line expected but the pickle ends");
    const void* nl = std::memchr(bytes_ + pos_, '\n', size_ - pos_);
    if (!nl) malformed("unterminated text line (the pickle ends)");
    size_t len = (size_t)(static_cast<const uint8_t*>(nl) - (bytes_ + pos_));
    std::string s(reinterpret_cast<const char*>(take(len)), len);
    take(1);
    return s;
  }
  // The stack above the innermost MARK is all an opcode may touch, as in CPython's metastack.
  size_t frame_base() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(PickleValue* v) {
    arena_.charge(sizeof(PickleValue*));  // stack slots are counted as pushed, not given back on pop
    stack_.push_back(v);
  }
  PickleValue* pop() {
    if (stack_.size() <= frame_base()) malformed("stack underflow");
    PickleValue* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  PickleValue* top() {
    if (stack_.size() <= frame_base()) malformed("stack underflow");
    return stack_.back();
  }
  std::vector<PickleValue*> pop_mark() {
    if (marks_.empty()) malformed("no MARK to pop to");
    size_t base = marks_.back();
    marks_.pop_back();
    std::vector<PickleValue*> items(stack_.begin() + (std::ptrdiff_t)base, stack_.end());
    stack_.resize(base);
    arena_.charge(items.size() * sizeof(PickleValue*));  // the items now live in a new container
    return items;
  }
  PickleValue* make_int(int64_t v) {
    PickleValue* p = arena_.make(Kind::Int);
    p->int_value = v;
    return p;
  }
  PickleValue* make_text(Kind kind, uint64_t len) {
    const char* text = reinterpret_cast<const char*>(take(len));  // checks len against the input first
    PickleValue* p = arena_.make(kind);
    arena_.charge(len);
    p->text.assign(text, (size_t)len);
    return p;
  }
  PickleValue* make_tuple(std::vector<PickleValue*> items) {
    PickleValue* p = arena_.make(Kind::Tuple);
    p->items = std::move(items);
    return p;
  }
  PickleValue* find_class(const std::string& module, const std::string& name) {
    arena_.charge(module.size() + name.size());  // the hooks may keep both in the value they return
    return hooks_.find_class(arena_, module, name);
  }
  PickleValue* make_long(uint64_t nbytes);
  void memo_put(uint64_t index) {
    PickleValue* value = top();
    if (memo_.insert_or_assign(index, value).second) arena_.charge(kMemoEntryBytes);
  }
  PickleValue* memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) malformed(str_cat("memo entry ", index, " was never stored"));
    return it->second;
  }
  PickleValue* expect(PickleValue* v, Kind kind, const char* opcode) {
    if (v->kind != kind)
      malformed(str_cat(opcode, " expects a ", pickle_kind_name(kind), ", found a ", pickle_kind_name(v->kind)));
    return v;
  }
  void set_items(PickleValue* dict, const std::vector<PickleValue*>& kv, const char* opcode) {
    expect(dict, Kind::Dict, opcode);
    if (kv.size() % 2) malformed(str_cat(opcode, " has an odd number of keys and values"));
    arena_.charge(kv.size() * sizeof(PickleValue*));
    for (size_t i = 0; i < kv.size(); i += 2) dict->entries.emplace_back(kv[i], kv[i + 1]);
  }

  const uint8_t* bytes_;
  size_t size_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  PickleArena& arena_;
  PickleHooks& hooks_;
  const std::string& what_;
  const uint64_t memory_limit_;
  // An unordered_map node (key, value, next pointer, cached hash) plus its bucket and allocator overhead.
  static constexpr uint64_t kMemoEntryBytes = 64;
  std::vector<PickleValue*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleValue*> memo_;
};

PickleValue* Unpickler::make_long(uint64_t nbytes) {
  if (nbytes > 8) malformed(str_cat("integer of ", nbytes, " bytes does not fit 64 bits"));
  const uint8_t* p = take(nbytes);
  uint64_t v = 0;
  for (uint64_t i = nbytes; i-- > 0;) v = (v << 8) | p[i];
  if (nbytes > 0 && nbytes < 8 && (p[nbytes - 1] & 0x80)) v |= ~uint64_t{0} << (8 * nbytes);  // sign-extend
  return make_int((int64_t)v);
}

PickleValue* Unpickler::run() {
  while (true) {
    check_memory();
    op_pos_ = pos_;
    const uint8_t op = *take(1);
    switch (op) {
      case 0x80: {  // PROTO
        uint8_t proto = *take(1);
        if (proto > 5) malformed(str_cat("unsupported pickle protocol ", (int)proto));
        break;
      }
      case 0x95:
        take(8);
        break;     // FRAME: a length hint only
      case '.': {  // STOP
        PickleValue* result = pop();
        return result;
      }
      case '(':
        arena_.charge(sizeof(size_t));
        marks_.push_back(stack_.size());
        break;  // MARK
      case '0':
        pop();
        break;  // POP
      case '1':
        pop_mark();
        break;  // POP_MARK
      case '2':
        push(top());
        break;  // DUP
      case 'N':
        push(arena_.make(Kind::None));
        break;
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        PickleValue* b = arena_.make(Kind::Bool);
        b->bool_value = op == 0x88;
        push(b);
        break;
      }
      case 'J':
        push(make_int((int32_t)(uint32_t)take_le(4)));
        break;  // BININT
      case 'K':
        push(make_int((int64_t)take_le(1)));
        break;  // BININT1
      case 'M':
        push(make_int((int64_t)take_le(2)));
        break;  // BININT2
      case 0x8a:
        push(make_long(take_le(1)));
        break;      // LONG1
      case 0x8b: {  // LONG4
        int32_t n = (int32_t)(uint32_t)take_le(4);
        if (n < 0) malformed("LONG4 with a negative length");
        push(make_long((uint64_t)n));
        break;
      }
      case 'G': {  // BINFLOAT, big-endian IEEE double
        const uint8_t* p = take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
        PickleValue* f = arena_.make(Kind::Float);
        std::memcpy(&f->float_value, &bits, 8);
        push(f);
        break;
      }
      case 'X':
        push(make_text(Kind::String, take_le(4)));
        break;  // BINUNICODE
      case 0x8c:
        push(make_text(Kind::String, take_le(1)));
        break;  // SHORT_BINUNICODE
      case 0x8d:
        push(make_text(Kind::String, take_le(8)));
        break;  // BINUNICODE8
      case 'U':
        push(make_text(Kind::String, take_le(1)));
        break;     // SHORT_BINSTRING
      case 'T': {  // BINSTRING
        int32_t n = (int32_t)(uint32_t)take_le(4);
        if (n < 0) malformed("BINSTRING with a negative length");
        push(make_text(Kind::String, (uint64_t)n));
        break;
      }
      case 'B':
        push(make_text(Kind::Bytes, take_le(4)));
        break;  // BINBYTES
      case 'C':
        push(make_text(Kind::Bytes, take_le(1)));
        break;  // SHORT_BINBYTES
      case 0x8e:
        push(make_text(Kind::Bytes, take_le(8)));
        break;  // BINBYTES8
      case '}':
        push(arena_.make(Kind::Dict));
        break;  // EMPTY_DICT
      case ']':
        push(arena_.make(Kind::List));
        break;  // EMPTY_LIST
      case ')':
        push(arena_.make(Kind::Tuple));
        break;  // EMPTY_TUPLE
      case 't':
        push(make_tuple(pop_mark()));
        break;      // TUPLE
      case 0x85: {  // TUPLE1
        PickleValue* a = pop();
        push(make_tuple({a}));
        break;
      }
      case 0x86: {  // TUPLE2
        PickleValue* b = pop();
        PickleValue* a = pop();
        push(make_tuple({a, b}));
        break;
      }
      case 0x87: {  // TUPLE3
        PickleValue* c = pop();
        PickleValue* b = pop();
        PickleValue* a = pop();
        push(make_tuple({a, b, c}));
        break;
      }
      case 'l': {  // LIST
        PickleValue* list = arena_.make(Kind::List);
        list->items = pop_mark();
        push(list);
        break;
      }
      case 'd': {  // DICT
        PickleValue* dict = arena_.make(Kind::Dict);
        set_items(dict, pop_mark(), "DICT");
        push(dict);
        break;
      }
      case 'a': {  // APPEND
        PickleValue* item = pop();
        expect(top(), Kind::List, "APPEND")->items.push_back(item);
        arena_.charge(sizeof(PickleValue*));
        break;
      }
      case 'e': {  // APPENDS
        std::vector<PickleValue*> items = pop_mark();
        PickleValue* list = expect(top(), Kind::List, "APPENDS");
        list->items.insert(list->items.end(), items.begin(), items.end());
        break;
      }
      case 's': {  // SETITEM
        PickleValue* value = pop();
        PickleValue* key = pop();
        set_items(top(), {key, value}, "SETITEM");
        break;
      }
      case 'u': {  // SETITEMS
        std::vector<PickleValue*> kv = pop_mark();
        set_items(top(), kv, "SETITEMS");
        break;
      }
      case 'q':
        memo_put(take_le(1));
        break;  // BINPUT
      case 'r':
        memo_put(take_le(4));
        break;  // LONG_BINPUT
      case 0x94:
        memo_put(memo_.size());
        break;  // MEMOIZE
      case 'h':
        push(memo_get(take_le(1)));
        break;  // BINGET
      case 'j':
        push(memo_get(take_le(4)));
        break;     // LONG_BINGET
      case 'c': {  // GLOBAL "module\nname\n"
        std::string module = take_line();
        std::string name = take_line();
        push(find_class(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        PickleValue* name = expect(pop(), Kind::String, "STACK_GLOBAL");
        PickleValue* module = expect(pop(), Kind::String, "STACK_GLOBAL");
        push(find_class(module->text, name->text));
        break;
      }
      case 'Q': {  // BINPERSID
        PickleValue* pid = pop();
        push(hooks_.persistent_load(arena_, pid));
        break;
      }
      case 'R': {  // REDUCE
        PickleValue* args = expect(pop(), Kind::Tuple, "REDUCE");
        PickleValue* callable = pop();
        push(hooks_.reduce(arena_, callable, args));
        break;
      }
      case 'b': {  // BUILD
        PickleValue* state = pop();
        PickleValue* object = pop();
        push(hooks_.build(arena_, object, state));
        break;
      }
      default:
        malformed(str_cat("unsupported opcode 0x", "0123456789abcdef"[op >> 4], "0123456789abcdef"[op & 15],
                          (op >= 0x20 && op < 0x7f ? str_cat(" ('", (char)op, "')") : std::string()),
                          "; only the opcodes torch.save emits for tensors and dicts are read"));
    }
  }
}

}  // namespace

PickleValue* unpickle(const uint8_t* bytes, size_t size, PickleArena& arena, PickleHooks& hooks,
                      const std::string& what, uint64_t memory_limit_bytes) {
  return Unpickler(bytes, size, arena, hooks, what, memory_limit_bytes).run();
}

PickleValue* unpickle(const uint8_t* bytes, size_t size, PickleArena& arena, PickleHooks& hooks,
                      const std::string& what) {
  return unpickle(bytes, size, arena, hooks, what, pickle_memory_limit(size));
}

}  // namespace shardlm
