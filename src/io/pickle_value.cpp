// pickle::Value: factories, typed access with clear errors, repr, and an iterative destructor.
#include <cmath>
#include <cstdio>

#include "xclip/core/error.hpp"
#include "xclip/io/pickle.hpp"

namespace xclip::io::pickle {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::none: return "None";
    case Kind::boolean: return "bool";
    case Kind::integer: return "int";
    case Kind::floating: return "float";
    case Kind::string: return "str";
    case Kind::bytes: return "bytes";
    case Kind::list: return "list";
    case Kind::tuple: return "tuple";
    case Kind::dict: return "dict";
    case Kind::set: return "set";
    case Kind::global: return "global";
    case Kind::object: return "object";
    case Kind::native: return "native";
  }
  return "?";
}

// Children are moved onto an explicit work list so that a value nested a million levels deep
// (possible in a hostile file) is freed without a million nested destructor calls.
Value::~Value() {
  std::vector<ValuePtr> pending;
  auto take_children = [&pending](Value& v) {
    for (auto& c : v.items) pending.push_back(std::move(c));
    for (auto& [k, x] : v.entries) {
      pending.push_back(std::move(k));
      pending.push_back(std::move(x));
    }
    v.items.clear();
    v.entries.clear();
    if (v.parts && v.parts.use_count() == 1) {
      pending.push_back(std::move(v.parts->args));
      pending.push_back(std::move(v.parts->state));
    }
  };
  take_children(*this);
  while (!pending.empty()) {
    ValuePtr p = std::move(pending.back());
    pending.pop_back();
    if (p && p.use_count() == 1) take_children(*p);
  }
}

ValuePtr Value::make_none() { return std::make_shared<Value>(Kind::none); }
ValuePtr Value::make_bool(bool b) {
  auto v = std::make_shared<Value>(Kind::boolean);
  v->integer = b ? 1 : 0;
  return v;
}
ValuePtr Value::make_int(int64_t i) {
  auto v = std::make_shared<Value>(Kind::integer);
  v->integer = i;
  return v;
}
ValuePtr Value::make_float(double f) {
  auto v = std::make_shared<Value>(Kind::floating);
  v->floating = f;
  return v;
}
ValuePtr Value::make_string(std::string s) {
  auto v = std::make_shared<Value>(Kind::string);
  v->text = std::move(s);
  return v;
}
ValuePtr Value::make_bytes(std::string b) {
  auto v = std::make_shared<Value>(Kind::bytes);
  v->text = std::move(b);
  return v;
}
ValuePtr Value::make_list(std::vector<ValuePtr> items) {
  auto v = std::make_shared<Value>(Kind::list);
  v->items = std::move(items);
  return v;
}
ValuePtr Value::make_tuple(std::vector<ValuePtr> items) {
  auto v = std::make_shared<Value>(Kind::tuple);
  v->items = std::move(items);
  return v;
}
ValuePtr Value::make_dict() { return std::make_shared<Value>(Kind::dict); }
ValuePtr Value::make_global(std::string module, std::string name) {
  auto v = std::make_shared<Value>(Kind::global);
  v->parts = std::make_shared<ObjectParts>();
  v->parts->module = std::move(module);
  v->parts->name = std::move(name);
  return v;
}
ValuePtr Value::make_native(std::string module, std::string name, std::any payload) {
  auto v = make_global(std::move(module), std::move(name));
  v->kind = Kind::native;
  v->parts->native = std::move(payload);
  return v;
}

namespace {
[[noreturn]] void wrong_kind(const Value& v, const char* expected) {
  throw Error(format("pickle: expected ", expected, ", got ", kind_name(v.kind), " ", v.repr(80)));
}
}  // namespace

bool Value::as_bool() const {
  if (kind != Kind::boolean && kind != Kind::integer) wrong_kind(*this, "bool");
  return integer != 0;
}
int64_t Value::as_int() const {
  if (kind != Kind::integer && kind != Kind::boolean) wrong_kind(*this, "int");
  return integer;
}
double Value::as_number() const {
  if (kind == Kind::floating) return floating;
  if (kind != Kind::integer && kind != Kind::boolean) wrong_kind(*this, "number");
  return double(integer);
}
const std::string& Value::as_string() const {
  if (kind != Kind::string) wrong_kind(*this, "str");
  return text;
}
const std::string& Value::as_bytes() const {
  if (kind != Kind::bytes) wrong_kind(*this, "bytes");
  return text;
}
const std::vector<ValuePtr>& Value::as_sequence() const {
  if (!is_sequence()) wrong_kind(*this, "list or tuple");
  return items;
}
const std::vector<std::pair<ValuePtr, ValuePtr>>& Value::as_dict() const {
  if (kind != Kind::dict) wrong_kind(*this, "dict");
  return entries;
}

ValuePtr Value::get(std::string_view key) const {
  if (kind != Kind::dict) return nullptr;
  for (const auto& [k, v] : entries)
    if (k && k->kind == Kind::string && k->text == key) return v;
  return nullptr;
}

std::string Value::qualified_name() const {
  if (!parts || (kind != Kind::global && kind != Kind::object && kind != Kind::native)) return "";
  return parts->module.empty() ? parts->name : parts->module + "." + parts->name;
}

namespace {

void quote_into(std::string& out, const std::string& s, char prefix) {
  if (prefix) out += prefix;
  out += '\'';
  for (unsigned char c : s) {
    if (c == '\'' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  out += '\'';
}

// Appends a Python-like rendering, stopping once `limit` characters are written or the nesting
// passes a few levels (enough for an error message; never recursion proportional to the input).
void repr_into(const Value& v, std::string& out, size_t limit, int depth) {
  if (out.size() >= limit) return;
  if (depth > 6) {
    out += "...";
    return;
  }
  auto sequence = [&](const std::vector<ValuePtr>& items, const char* open, const char* close) {
    out += open;
    for (size_t i = 0; i < items.size(); ++i) {
      if (out.size() >= limit) break;
      if (i) out += ", ";
      if (items[i]) repr_into(*items[i], out, limit, depth + 1);
    }
    if (items.size() == 1 && open[0] == '(') out += ',';
    out += close;
  };
  switch (v.kind) {
    case Kind::none: out += "None"; break;
    case Kind::boolean: out += v.integer ? "True" : "False"; break;
    case Kind::integer: out += std::to_string(v.integer); break;
    case Kind::floating: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", v.floating);
      out += buf;
      break;
    }
    case Kind::string: quote_into(out, v.text.substr(0, limit), 0); break;
    case Kind::bytes: quote_into(out, v.text.substr(0, limit), 'b'); break;
    case Kind::list: sequence(v.items, "[", "]"); break;
    case Kind::tuple: sequence(v.items, "(", ")"); break;
    case Kind::set: sequence(v.items, "{", "}"); break;
    case Kind::dict:
      out += "{";
      for (size_t i = 0; i < v.entries.size() && out.size() < limit; ++i) {
        if (i) out += ", ";
        if (v.entries[i].first) repr_into(*v.entries[i].first, out, limit, depth + 1);
        out += ": ";
        if (v.entries[i].second) repr_into(*v.entries[i].second, out, limit, depth + 1);
      }
      out += "}";
      break;
    case Kind::global: out += v.qualified_name(); break;
    case Kind::native: out += "<" + v.qualified_name() + ">"; break;
    case Kind::object:
      out += v.qualified_name();
      if (v.parts && v.parts->args) repr_into(*v.parts->args, out, limit, depth + 1);
      else out += "()";
      break;
  }
}

}  // namespace

std::string Value::repr(size_t max_chars) const {
  std::string out;
  repr_into(*this, out, max_chars, 0);
  if (out.size() > max_chars) out = out.substr(0, max_chars) + "...";
  return out;
}

}  // namespace xclip::io::pickle
