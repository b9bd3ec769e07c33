#include "torch_state_dict.hpp"

#include <set>

namespace xclip::io::detail {

using pickle::Kind;
using pickle::Value;
using pickle::ValuePtr;

namespace {

constexpr int kMaxModuleDepth = 64;  // real models nest < 10 deep; more means a cycle or garbage

// The quoted names of a line like `  __parameters__ = ["weight", "bias", ]`.
std::vector<std::string> quoted_names(std::string_view line) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = line.find('"', pos)) != std::string_view::npos) {
    const size_t end = line.find('"', pos + 1);
    if (end == std::string_view::npos) break;
    out.emplace_back(line.substr(pos + 1, end - pos - 1));
    pos = end + 1;
  }
  return out;
}

const Value* attributes_of(const Value& obj) {
  if (!obj.parts || !obj.parts->state || obj.parts->state->kind != Kind::dict) return nullptr;
  return obj.parts->state.get();
}

bool is_script_object(const ValuePtr& v) {
  return v && v->kind == Kind::object && v->parts && v->parts->module.starts_with("__torch__");
}

void add_tensor(NamedSpecs& out, std::string name, const ValuePtr& v) { out.emplace_back(std::move(name), v); }

void collect_script(const Value& obj, const std::string& prefix, const ScriptClassLookup& lookup,
                    const std::string& file, std::vector<std::string>& notes, NamedSpecs& out, int depth) {
  XCLIP_CHECK(depth < kMaxModuleDepth, file, ": TorchScript modules nest deeper than ", kMaxModuleDepth,
              " levels at '", prefix, "' (a cycle?)");
  const Value* attrs = attributes_of(obj);
  XCLIP_CHECK(attrs != nullptr, file, ": TorchScript object '", prefix.empty() ? "<root>" : prefix, "' (",
              obj.qualified_name(), ") has no attribute dictionary");
  const auto info = lookup(obj.parts->module, obj.parts->name);
  if (info) {
    for (const auto* names : {&info->parameters, &info->buffers})
      for (const auto& name : *names) {
        ValuePtr v = attrs->get(name);
        if (v && v->is_none()) continue;  // an optional parameter that is absent (e.g. bias=None)
        XCLIP_CHECK(is_tensor(v), file, ": TorchScript attribute '", prefix, name, "' is declared a parameter or ",
                    "buffer but holds ", v ? v->repr(60) : std::string("nothing"));
        add_tensor(out, prefix + name, v);
      }
  } else {
    notes.push_back(format("no TorchScript code for class ", obj.qualified_name(), ": every tensor attribute of '",
                           prefix.empty() ? "<root>" : prefix, "' is taken as a parameter"));
    for (const auto& [k, v] : attrs->entries)
      if (k->kind == Kind::string && is_tensor(v)) add_tensor(out, prefix + k->text, v);
  }
  for (const auto& [k, v] : attrs->entries)
    if (k->kind == Kind::string && is_script_object(v))
      collect_script(*v, prefix + k->text + ".", lookup, file, notes, out, depth + 1);
}

// A pickled torch.nn.Module: __dict__ with _parameters, _buffers (minus the non-persistent ones)
// and _modules, the order Module.state_dict() uses.
bool is_eager_module(const Value& v) {
  const Value* attrs = v.kind == Kind::object ? attributes_of(v) : nullptr;
  return attrs && attrs->get("_parameters") && attrs->get("_modules");
}

void collect_eager(const Value& obj, const std::string& prefix, const std::string& file, NamedSpecs& out, int depth) {
  XCLIP_CHECK(depth < kMaxModuleDepth, file, ": modules nest deeper than ", kMaxModuleDepth, " levels at '", prefix,
              "' (a cycle?)");
  const Value& attrs = *attributes_of(obj);
  std::set<std::string> non_persistent;
  if (ValuePtr np = attrs.get("_non_persistent_buffers_set"); np && np->kind == Kind::set)
    for (const auto& n : np->items)
      if (n->kind == Kind::string) non_persistent.insert(n->text);
  for (const char* group : {"_parameters", "_buffers"}) {
    ValuePtr d = attrs.get(group);
    if (!d || d->kind != Kind::dict) continue;
    for (const auto& [k, v] : d->entries)
      if (k->kind == Kind::string && is_tensor(v) && !non_persistent.count(k->text))
        add_tensor(out, prefix + k->text, v);
  }
  ValuePtr modules = attrs.get("_modules");
  if (modules && modules->kind == Kind::dict)
    for (const auto& [k, v] : modules->entries)
      if (k->kind == Kind::string && v && is_eager_module(*v))
        collect_eager(*v, prefix + k->text + ".", file, out, depth + 1);
}

std::string dict_keys_preview(const Value& d) {
  std::string keys;
  for (size_t i = 0; i < d.entries.size() && i < 5; ++i) keys += (i ? ", " : "") + d.entries[i].first->repr(40);
  return keys + (d.entries.size() > 5 ? ", ..." : "");
}

}  // namespace

std::optional<ScriptClassInfo> parse_script_class(std::string_view code, const std::string& class_name) {
  const std::string header = "class " + class_name + "(";
  size_t pos = code.starts_with(header) ? 0 : code.find("\n" + header);
  if (pos == std::string_view::npos) return std::nullopt;
  pos = code.find('\n', pos + 1);
  ScriptClassInfo info;
  bool found = false;
  while (pos != std::string_view::npos && pos + 1 < code.size()) {
    const size_t end = code.find('\n', pos + 1);
    std::string_view line = code.substr(pos + 1, end == std::string_view::npos ? std::string_view::npos : end - pos - 1);
    if (!line.starts_with(" ")) break;  // the class body ended
    if (line.starts_with("  __parameters__ = ")) info.parameters = quoted_names(line), found = true;
    if (line.starts_with("  __buffers__ = ")) info.buffers = quoted_names(line), found = true;
    if (line.starts_with("  def ")) break;  // declarations come before methods
    pos = end;
  }
  if (!found) return std::nullopt;
  return info;
}

NamedSpecs script_module_state_dict(const Value& root, const ScriptClassLookup& lookup, const std::string& file,
                                    std::vector<std::string>& notes) {
  XCLIP_CHECK(root.kind == Kind::object && root.parts && root.parts->module.starts_with("__torch__"), file,
              ": the TorchScript data.pkl does not hold a module object but ", root.repr(80));
  NamedSpecs out;
  collect_script(root, "", lookup, file, notes, out, 0);
  return out;
}

NamedSpecs saved_object_state_dict(const Value& root, const std::string& file, std::vector<std::string>& notes) {
  NamedSpecs out;
  if (root.kind == Kind::dict) {
    size_t skipped = 0;
    for (const auto& [k, v] : root.entries) {
      if (k->kind == Kind::string && is_tensor(v))
        add_tensor(out, k->text, v);
      else
        ++skipped;
    }
    if (!out.empty()) {
      if (skipped) notes.push_back(format(skipped, " entries that are not tensors were skipped"));
      return out;
    }
    for (const char* key : {"state_dict", "model", "module"})
      if (ValuePtr inner = root.get(key); inner && (inner->kind == Kind::dict || is_eager_module(*inner))) {
        notes.push_back(format("tensors taken from the '", key, "' entry"));
        return saved_object_state_dict(*inner, file, notes);
      }
    throw Error(format(file, ": holds a dict without tensors (keys: ", dict_keys_preview(root), ")"));
  }
  if (is_eager_module(root)) {
    collect_eager(root, "", file, out, 0);
    return out;
  }
  throw Error(format(file, ": holds ", pickle::kind_name(root.kind), " ", root.repr(80),
                     ", not a state_dict (a dict of tensors)"));
}

}  // namespace xclip::io::detail
