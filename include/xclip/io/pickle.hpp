// A pickle reader (protocols 0-5, the opcodes torch.save, TorchScript's data.pkl and plain Python
// pickles use) producing a tree of Values. Nothing is executed: GLOBAL/STACK_GLOBAL give a `global`
// value naming the callable, REDUCE/NEWOBJ an `object` holding that name and the arguments, BUILD
// stores its argument as the object's state. A few builtins are emulated so plain data comes out
// as plain values: collections.OrderedDict (-> dict), builtins.set/frozenset (-> set),
// _codecs.encode (protocol-2 bytes), builtins.bytearray (-> bytes). Hooks let a caller turn
// persistent ids (torch storages) and chosen callables (torch._utils._rebuild_tensor_v2) into
// `native` values carrying anything (std::any).
//
//   auto root = pickle::load(bytes, {.name = "raw-captions.pkl"});
//   for (const auto& [key, value] : root->as_dict()) ...
//
// Malformed, truncated or unsupported input throws xclip::Error naming `Options::name`, the byte
// offset and the opcode. Every length is checked against the bytes that remain before anything is
// allocated, so memory stays proportional to the input size.
#pragma once
#include <any>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xclip::io::pickle {

enum class Kind : uint8_t {
  none, boolean, integer, floating, string, bytes, list, tuple, dict, set,
  global,  // a class or function named by GLOBAL / STACK_GLOBAL (not called)
  object,  // the result of REDUCE / NEWOBJ / INST / OBJ on a global no emulation or hook handled
  native,  // made by a hook (e.g. a torch storage or tensor)
};
const char* kind_name(Kind k);

struct Value;
using ValuePtr = std::shared_ptr<Value>;

// The parts of a global, object or native value.
struct ObjectParts {
  std::string module, name;  // global: the callable; object: its class or factory
  ValuePtr args;             // object: the argument tuple given to REDUCE / NEWOBJ
  ValuePtr state;            // BUILD's argument (for an object, or attributes set on a dict)
  std::any native;           // native: whatever the hook stored
};

struct Value {
  Kind kind = Kind::none;
  int64_t integer = 0;   // integer; boolean as 0 / 1
  double floating = 0;   // floating
  std::string text;      // string (UTF-8 as pickled), bytes
  std::vector<ValuePtr> items;                          // list, tuple, set
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;   // dict, in insertion order
  std::shared_ptr<ObjectParts> parts;                   // global, object, native (and dict state)

  Value() = default;
  explicit Value(Kind k) : kind(k) {}
  ~Value();  // iterative: deeply nested values do not recurse on the stack
  Value(const Value&) = delete;
  Value& operator=(const Value&) = delete;

  // ---- factories ------------------------------------------------------------------------
  static ValuePtr make_none();
  static ValuePtr make_bool(bool b);
  static ValuePtr make_int(int64_t i);
  static ValuePtr make_float(double f);
  static ValuePtr make_string(std::string s);
  static ValuePtr make_bytes(std::string b);
  static ValuePtr make_list(std::vector<ValuePtr> items = {});
  static ValuePtr make_tuple(std::vector<ValuePtr> items = {});
  static ValuePtr make_dict();
  static ValuePtr make_global(std::string module, std::string name);
  static ValuePtr make_native(std::string module, std::string name, std::any payload);

  // ---- typed access: throw xclip::Error "pickle: expected <kind>, got <kind> <repr>" ------
  bool is(Kind k) const { return kind == k; }
  bool is_none() const { return kind == Kind::none; }
  bool is_sequence() const { return kind == Kind::list || kind == Kind::tuple; }
  bool as_bool() const;
  int64_t as_int() const;      // integer or boolean
  double as_number() const;    // floating, integer or boolean
  const std::string& as_string() const;
  const std::string& as_bytes() const;
  const std::vector<ValuePtr>& as_sequence() const;  // list or tuple
  const std::vector<std::pair<ValuePtr, ValuePtr>>& as_dict() const;
  // Dict lookup by string key; nullptr when absent (or when this is not a dict).
  ValuePtr get(std::string_view key) const;
  // "module.name" of a global, object or native value; "" otherwise.
  std::string qualified_name() const;
  // Short Python-like text for error messages: "[1, 'a', ...]", "torch._utils._rebuild_tensor_v2(...)".
  std::string repr(size_t max_chars = 120) const;
};

struct Options {
  std::string name = "pickle";  // named in every error (a file, or "archive.pt:data.pkl")
  // Called for BINPERSID / PERSID with the persistent id value; must return the value to push.
  // Without it a persistent id is an error.
  std::function<ValuePtr(const ValuePtr& pid)> persistent_load;
  // Called for REDUCE (newobj false) and NEWOBJ (true) before the built-in emulations; return
  // nullptr to let the reader handle the call (emulation or generic object).
  std::function<ValuePtr(const Value& callable, const ValuePtr& args, bool newobj)> reduce;
  // Called for BUILD on a native value (e.g. torch's tensor state); nullptr = store as state.
  std::function<void(Value& target, const ValuePtr& state)> build_native;
};

// Reads one pickle from the start of `bytes` up to its STOP. `consumed` (optional) receives the
// number of bytes read, so consecutive pickles in one stream can be read one after another.
ValuePtr load(std::string_view bytes, const Options& options = {}, size_t* consumed = nullptr);
// Reads a whole file holding one pickle (trailing bytes after STOP are an error).
ValuePtr load_file(const std::string& path, Options options = {});

}  // namespace xclip::io::pickle
