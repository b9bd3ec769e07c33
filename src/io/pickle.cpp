// The pickle virtual machine, without executing anything: see pickle.hpp.
// Opcode reference: CPython Lib/pickletools.py (names and argument encodings used below).
#include "xclip/io/pickle.hpp"

#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "xclip/core/error.hpp"
#include "xclip/io/file_bytes.hpp"
#include "pickle_text.hpp"

namespace xclip::io::pickle {

namespace {

// Some opcodes by name (the rest appear as character literals in the dispatch below).
enum Op : uint8_t {
  PROTO = 0x80, NEWOBJ = 0x81, EXT1 = 0x82, EXT2 = 0x83, EXT4 = 0x84, TUPLE1 = 0x85, TUPLE2 = 0x86,
  TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89, LONG1 = 0x8a, LONG4 = 0x8b, SHORT_BINUNICODE = 0x8c,
  BINUNICODE8 = 0x8d, BINBYTES8 = 0x8e, EMPTY_SET = 0x8f, ADDITEMS = 0x90, FROZENSET = 0x91,
  NEWOBJ_EX = 0x92, STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95, BYTEARRAY8 = 0x96,
  NEXT_BUFFER = 0x97, READONLY_BUFFER = 0x98,
};

class Reader {
 public:
  Reader(std::string_view bytes, const Options& options) : in_(bytes), opt_(options) {}

  // A failed or rejected load frees everything it built: the containers it filled may form cycles
  // (a list appended to itself through the memo), which shared_ptr alone would never free.
  ~Reader() {
    if (!accepted_) break_cycles();
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  ValuePtr run(size_t* consumed) {
    while (true) {
      check(pos_ < in_.size(), "truncated: the stream ends before STOP");
      op_pos_ = pos_;
      op_ = uint8_t(in_[pos_++]);
      if (op_ == '.') {
        check(!stack_.empty(), "STOP with an empty stack");
        reject_cycles();
        if (consumed) *consumed = pos_;
        accepted_ = true;
        return stack_.back();
      }
      step();
    }
  }

 private:
  // ---- errors --------------------------------------------------------------------------------
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(format(opt_.name, ": pickle: ", what, " (opcode 0x", hex(op_), " at byte ", op_pos_, ")"));
  }
  void check(bool ok, const std::string& what) const {
    if (!ok) fail(what);
  }
  static std::string hex(uint8_t b) {
    const char* d = "0123456789abcdef";
    return {d[b >> 4], d[b & 15]};
  }

  // ---- raw input -----------------------------------------------------------------------------
  std::string_view take(uint64_t n) {
    check(n <= in_.size() - pos_, format("truncated: needs ", n, " bytes, ", in_.size() - pos_, " remain"));
    std::string_view s = in_.substr(pos_, size_t(n));
    pos_ += size_t(n);
    return s;
  }
  uint64_t uint_le(int n) {
    std::string_view s = take(uint64_t(n));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | uint8_t(s[size_t(i)]);
    return v;
  }
  std::string_view line() {  // text-protocol argument: up to '\n' (not included)
    const size_t end = in_.find('\n', pos_);
    check(end != std::string_view::npos, "truncated: text argument without its newline");
    std::string_view s = in_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }

  // ---- stack ---------------------------------------------------------------------------------
  void push(ValuePtr v) { stack_.push_back(std::move(v)); }
  ValuePtr pop() {
    check(stack_.size() > base(), "stack underflow");
    ValuePtr v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  ValuePtr& top() {
    check(stack_.size() > base(), "stack underflow");
    return stack_.back();
  }
  size_t base() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<ValuePtr> pop_mark() {  // everything above the last MARK, which is removed
    check(!marks_.empty(), "no MARK on the stack");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(std::make_move_iterator(stack_.begin() + std::ptrdiff_t(m)),
                                std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return items;
  }

  // ---- memo ----------------------------------------------------------------------------------
  void memo_put(uint64_t key) { memo_[key] = top(); }
  void memo_get(uint64_t key) {
    auto it = memo_.find(key);
    check(it != memo_.end(), format("memo key ", key, " was never stored"));
    push(it->second);
  }

  // ---- cycles ---------------------------------------------------------------------------------
  // Only a container filled after it was made (APPEND, SETITEM, ADDITEMS, BUILD) can be part of a
  // cycle, so those are the ones remembered, checked at STOP and emptied when the load fails.
  void mutated(const ValuePtr& v) {
    if (mutated_set_.insert(v.get()).second) mutated_.push_back(v);
  }
  static bool old_state_is_dict(const ValuePtr& target) {
    return target->parts && target->parts->state && target->parts->state->kind == Kind::dict;
  }
  static void children(const Value& v, std::vector<const Value*>& out) {
    for (const auto& c : v.items) out.push_back(c.get());
    for (const auto& [k, x] : v.entries) out.push_back(k.get()), out.push_back(x.get());
    if (v.parts) out.push_back(v.parts->args.get()), out.push_back(v.parts->state.get());
  }
  // Depth-first search from every filled container with an explicit stack (white/grey/black):
  // O(values + references), no recursion, whatever the input.
  void reject_cycles() {
    std::unordered_map<const Value*, bool> done;  // false: on the current path; true: finished
    std::vector<std::pair<const Value*, std::vector<const Value*>>> path;
    for (const auto& w : mutated_) {
      const ValuePtr root = w.lock();
      if (!root || done.count(root.get())) continue;
      path.emplace_back(root.get(), std::vector<const Value*>{});
      children(*root, path.back().second);
      done[root.get()] = false;
      while (!path.empty()) {
        auto& [node, next] = path.back();
        if (next.empty()) {
          done[node] = true;
          path.pop_back();
          continue;
        }
        const Value* c = next.back();
        next.pop_back();
        if (!c) continue;
        const auto it = done.find(c);
        if (it != done.end()) {
          check(it->second, format("a ", kind_name(c->kind),
                                   " contains itself (a reference cycle through the memo); not supported"));
          continue;
        }
        done[c] = false;
        path.emplace_back(c, std::vector<const Value*>{});
        children(*c, path.back().second);
      }
    }
  }
  void break_cycles() {
    for (const auto& w : mutated_)
      if (const ValuePtr v = w.lock()) {
        v->items.clear();
        v->entries.clear();
        if (v->parts) v->parts->state.reset(), v->parts->args.reset();
      }
  }

  // ---- containers ----------------------------------------------------------------------------
  void append_to(const ValuePtr& target, std::vector<ValuePtr> items) {
    check(target->kind == Kind::list || target->kind == Kind::object,
          format("APPEND to a ", kind_name(target->kind)));
    mutated(target);
    for (auto& v : items) target->items.push_back(std::move(v));
  }
  void set_items(const ValuePtr& target, std::vector<ValuePtr> kv) {
    check(target->kind == Kind::dict || target->kind == Kind::object,
          format("SETITEM on a ", kind_name(target->kind)));
    check(kv.size() % 2 == 0, "SETITEMS with an odd number of items");
    mutated(target);
    for (size_t i = 0; i < kv.size(); i += 2) target->entries.emplace_back(std::move(kv[i]), std::move(kv[i + 1]));
  }
  static ValuePtr make_set(std::vector<ValuePtr> items) {
    auto v = std::make_shared<Value>(Kind::set);
    v->items = std::move(items);
    return v;
  }

  // ---- calls (REDUCE / NEWOBJ / INST / OBJ): emulate a few builtins, else a generic object ---
  ValuePtr call(const ValuePtr& callable, const ValuePtr& args, bool newobj) {
    check(callable->parts != nullptr, format("call of a ", kind_name(callable->kind), " (not a class or function)"));
    check(args->kind == Kind::tuple, format("call arguments are a ", kind_name(args->kind), ", not a tuple"));
    if (opt_.reduce)
      if (ValuePtr v = opt_.reduce(*callable, args, newobj)) return v;
    if (callable->kind == Kind::global)
      if (ValuePtr v = emulate(callable->parts->module, callable->parts->name, args->items)) return v;
    auto obj = std::make_shared<Value>(Kind::object);
    obj->parts = std::make_shared<ObjectParts>();
    obj->parts->module = callable->parts->module;
    obj->parts->name = callable->parts->name;
    obj->parts->args = args;
    return obj;
  }

  ValuePtr emulate(const std::string& module, const std::string& name, const std::vector<ValuePtr>& args) {
    const bool builtins = module == "builtins" || module == "__builtin__";
    if ((module == "collections" && name == "OrderedDict") || (builtins && name == "dict")) {
      auto d = Value::make_dict();
      if (!args.empty()) {
        check(args.size() == 1 && args[0]->is_sequence(), "OrderedDict/dict with unsupported arguments");
        for (const auto& pair : args[0]->items) {
          check(pair->is_sequence() && pair->items.size() == 2, "dict item that is not a pair");
          d->entries.emplace_back(pair->items[0], pair->items[1]);
        }
      }
      return d;
    }
    if (builtins && (name == "set" || name == "frozenset")) {
      check(args.empty() || (args.size() == 1 && (args[0]->is_sequence() || args[0]->kind == Kind::set)),
            "set with unsupported arguments");
      return make_set(args.empty() ? std::vector<ValuePtr>{} : args[0]->items);
    }
    if ((module == "_codecs" && name == "encode") || (builtins && (name == "bytearray" || name == "bytes")))
      return bytes_from_args(args);
    if ((module == "copy_reg" || module == "copyreg") && name == "_reconstructor") {
      check(args.size() >= 1 && args[0]->kind == Kind::global, "_reconstructor without a class");
      auto obj = std::make_shared<Value>(Kind::object);
      obj->parts = std::make_shared<ObjectParts>();
      obj->parts->module = args[0]->parts->module;
      obj->parts->name = args[0]->parts->name;
      obj->parts->args = Value::make_tuple(std::vector<ValuePtr>(args.begin() + 1, args.end()));
      return obj;
    }
    return nullptr;
  }

  // Protocols <= 2 pickle bytes as _codecs.encode(<latin-1 text>, 'latin1').
  ValuePtr bytes_from_args(const std::vector<ValuePtr>& args) {
    if (args.empty()) return Value::make_bytes("");
    if (args[0]->kind == Kind::bytes) return Value::make_bytes(args[0]->text);
    check(args[0]->kind == Kind::string && args.size() == 2 && args[1]->kind == Kind::string,
          "bytes construction with unsupported arguments");
    const std::string& enc = args[1]->text;
    check(enc == "latin1" || enc == "latin-1" || enc == "iso-8859-1", "bytes encoded as '" + enc + "'");
    std::string out;
    check(text::utf8_to_latin1(args[0]->text, out), "latin-1 bytes with a character above U+00FF");
    return Value::make_bytes(std::move(out));
  }

  void build() {
    ValuePtr state = pop();
    ValuePtr& target = top();
    if (target->kind == Kind::native && opt_.build_native) {
      opt_.build_native(*target, state);
      return;
    }
    if (!target->parts) target->parts = std::make_shared<ObjectParts>();
    mutated(target);
    if (old_state_is_dict(target)) mutated(target->parts->state);
    ValuePtr& old = target->parts->state;
    if (old && old->kind == Kind::dict && state->kind == Kind::dict)
      for (const auto& e : state->entries) old->entries.push_back(e);
    else
      old = std::move(state);
  }

  ValuePtr persistent(ValuePtr pid) {
    check(bool(opt_.persistent_load), "persistent id " + pid->repr(60) + " but no persistent_load handler");
    ValuePtr v = opt_.persistent_load(pid);
    check(v != nullptr, "persistent_load returned nothing for " + pid->repr(60));
    return v;
  }

  ValuePtr signed_le(std::string_view s) {  // LONG1 / LONG4 payload: little-endian two's complement
    if (s.empty()) return Value::make_int(0);
    const bool negative = uint8_t(s.back()) & 0x80;
    for (size_t i = 8; i < s.size(); ++i)
      check(uint8_t(s[i]) == (negative ? 0xff : 0x00), "integer does not fit in 64 bits");
    uint64_t v = negative ? ~uint64_t(0) : 0;
    const size_t n = std::min<size_t>(s.size(), 8);
    for (size_t i = n; i-- > 0;) v = (v << 8) | uint8_t(s[i]);
    if (n < 8 && negative) v |= ~uint64_t(0) << (8 * n);
    if (s.size() >= 8) check((int64_t(v) < 0) == negative, "integer does not fit in 64 bits");
    return Value::make_int(int64_t(v));
  }

  ValuePtr text_int(std::string_view s) {  // INT / LONG argument; "01"/"00" are True/False
    if (op_ == 'I' && s == "01") return Value::make_bool(true);
    if (op_ == 'I' && s == "00") return Value::make_bool(false);
    if (!s.empty() && s.back() == 'L') s.remove_suffix(1);
    int64_t v = 0;
    check(text::parse_int(s, v), "bad integer text '" + std::string(s.substr(0, 40)) + "'");
    return Value::make_int(v);
  }

  uint64_t text_index(std::string_view s) {
    int64_t v = 0;
    check(text::parse_int(s, v) && v >= 0, "bad memo index text");
    return uint64_t(v);
  }

  void step();

  std::string_view in_;
  const Options& opt_;
  size_t pos_ = 0, op_pos_ = 0;
  uint8_t op_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, ValuePtr> memo_;
  std::vector<std::weak_ptr<Value>> mutated_;
  std::unordered_set<const Value*> mutated_set_;
  bool accepted_ = false;
};

void Reader::step() {
  switch (op_) {
    // ---- framing and stack manipulation ----
    case PROTO: check(uint8_t(take(1)[0]) <= 5, "unsupported protocol (> 5)"); break;
    case FRAME: check(uint_le(8) <= in_.size() - pos_, "truncated: frame longer than the input"); break;
    case '(': marks_.push_back(stack_.size()); break;
    case '1': pop_mark(); break;
    case '0':
      if (stack_.size() > base()) pop();
      else pop_mark();
      break;
    case '2': push(top()); break;
    // ---- scalars ----
    case 'N': push(Value::make_none()); break;
    case NEWTRUE: push(Value::make_bool(true)); break;
    case NEWFALSE: push(Value::make_bool(false)); break;
    case 'J': push(Value::make_int(int32_t(uint32_t(uint_le(4))))); break;
    case 'K': push(Value::make_int(int64_t(uint_le(1)))); break;
    case 'M': push(Value::make_int(int64_t(uint_le(2)))); break;
    case LONG1: push(signed_le(take(uint_le(1)))); break;
    case LONG4: {
      const int64_t n = int32_t(uint32_t(uint_le(4)));
      check(n >= 0, "negative LONG4 length");
      push(signed_le(take(uint64_t(n))));
      break;
    }
    case 'I':
    case 'L': push(text_int(line())); break;
    case 'F': {
      double d = 0;
      check(text::parse_float(line(), d), "bad float text");
      push(Value::make_float(d));
      break;
    }
    case 'G': {
      uint64_t bits = 0;
      for (char c : take(8)) bits = (bits << 8) | uint8_t(c);  // big-endian
      double d;
      std::memcpy(&d, &bits, 8);
      push(Value::make_float(d));
      break;
    }
    // ---- strings and bytes ----
    case 'X': push(Value::make_string(std::string(take(uint_le(4))))); break;
    case SHORT_BINUNICODE: push(Value::make_string(std::string(take(uint_le(1))))); break;
    case BINUNICODE8: push(Value::make_string(std::string(take(uint_le(8))))); break;
    case 'T': {
      const int64_t n = int32_t(uint32_t(uint_le(4)));
      check(n >= 0, "negative BINSTRING length");
      push(Value::make_string(std::string(take(uint64_t(n)))));
      break;
    }
    case 'U': push(Value::make_string(std::string(take(uint_le(1))))); break;
    case 'B': push(Value::make_bytes(std::string(take(uint_le(4))))); break;
    case 'C': push(Value::make_bytes(std::string(take(uint_le(1))))); break;
    case BINBYTES8:
    case BYTEARRAY8: push(Value::make_bytes(std::string(take(uint_le(8))))); break;
    case 'V': push(Value::make_string(text::decode_raw_unicode_escape(line()))); break;
    case 'S': {
      std::string s;
      check(text::decode_python_string_literal(line(), s), "bad STRING literal");
      push(Value::make_string(std::move(s)));
      break;
    }
    // ---- containers ----
    case ']': push(Value::make_list()); break;
    case '}': push(Value::make_dict()); break;
    case ')': push(Value::make_tuple()); break;
    case EMPTY_SET: push(make_set({})); break;
    case 'l': push(Value::make_list(pop_mark())); break;
    case 't': push(Value::make_tuple(pop_mark())); break;
    case FROZENSET: push(make_set(pop_mark())); break;
    case TUPLE1:
    case TUPLE2:
    case TUPLE3: {
      const size_t n = size_t(op_ - TUPLE1 + 1);
      check(stack_.size() >= base() + n, "stack underflow");
      std::vector<ValuePtr> items(std::make_move_iterator(stack_.end() - std::ptrdiff_t(n)),
                                  std::make_move_iterator(stack_.end()));
      stack_.resize(stack_.size() - n);
      push(Value::make_tuple(std::move(items)));
      break;
    }
    case 'd': {
      auto d = Value::make_dict();
      set_items(d, pop_mark());
      push(d);
      break;
    }
    case 'a': {
      ValuePtr v = pop();
      append_to(top(), {std::move(v)});
      break;
    }
    case 'e': {
      auto items = pop_mark();
      append_to(top(), std::move(items));
      break;
    }
    case 's': {
      ValuePtr v = pop(), k = pop();
      set_items(top(), {std::move(k), std::move(v)});
      break;
    }
    case 'u': {
      auto kv = pop_mark();
      set_items(top(), std::move(kv));
      break;
    }
    case ADDITEMS: {
      auto items = pop_mark();
      check(top()->kind == Kind::set, "ADDITEMS on a " + std::string(kind_name(top()->kind)));
      mutated(top());
      for (auto& v : items) top()->items.push_back(std::move(v));
      break;
    }
    // ---- memo ----
    case 'p': memo_put(text_index(line())); break;
    case 'q': memo_put(uint_le(1)); break;
    case 'r': memo_put(uint_le(4)); break;
    case MEMOIZE: memo_put(memo_.size()); break;
    case 'g': memo_get(text_index(line())); break;
    case 'h': memo_get(uint_le(1)); break;
    case 'j': memo_get(uint_le(4)); break;
    // ---- classes, calls, objects ----
    case 'c': {
      std::string module(line());
      push(Value::make_global(std::move(module), std::string(line())));
      break;
    }
    case STACK_GLOBAL: {
      ValuePtr name = pop(), module = pop();
      check(name->kind == Kind::string && module->kind == Kind::string, "STACK_GLOBAL needs two strings");
      push(Value::make_global(module->text, name->text));
      break;
    }
    case 'R': {
      ValuePtr args = pop(), callable = pop();
      push(call(callable, args, false));
      break;
    }
    case NEWOBJ: {
      ValuePtr args = pop(), cls = pop();
      push(call(cls, args, true));
      break;
    }
    case NEWOBJ_EX: {
      pop();  // keyword arguments: kept out of the tree (no pickle we read uses them)
      ValuePtr args = pop(), cls = pop();
      push(call(cls, args, true));
      break;
    }
    case 'i': {  // INST module\nname\n with the arguments above the mark
      std::string module(line());
      ValuePtr cls = Value::make_global(std::move(module), std::string(line()));
      push(call(cls, Value::make_tuple(pop_mark()), false));
      break;
    }
    case 'o': {  // OBJ: class and arguments above the mark
      auto items = pop_mark();
      check(!items.empty(), "OBJ without a class");
      ValuePtr cls = items.front();
      push(call(cls, Value::make_tuple(std::vector<ValuePtr>(items.begin() + 1, items.end())), false));
      break;
    }
    case 'b': build(); break;
    case 'P': push(persistent(Value::make_string(std::string(line())))); break;
    case 'Q': push(persistent(pop())); break;
    case EXT1:
    case EXT2:
    case EXT4: fail("extension-registry opcodes (EXT1/2/4) are not supported");
    case NEXT_BUFFER:
    case READONLY_BUFFER: fail("out-of-band buffers (protocol 5 NEXT_BUFFER) are not supported");
    default: fail("unknown opcode");
  }
}

}  // namespace

ValuePtr load(std::string_view bytes, const Options& options, size_t* consumed) {
  Reader reader(bytes, options);
  return reader.run(consumed);
}

ValuePtr load_file(const std::string& path, Options options) {
  auto file = FileBytes::map(path);
  if (options.name == "pickle") options.name = path;
  size_t used = 0;
  ValuePtr v = load(file->view(), options, &used);
  XCLIP_CHECK(used == file->size(), path, ": pickle: ", file->size() - used, " bytes after STOP");
  return v;
}

}  // namespace xclip::io::pickle
