// PyTorch files without PyTorch: torch.save zip archives, TorchScript archives, legacy torch.save.
#include <cstring>
#include <map>

#include "torch_state_dict.hpp"
#include "xclip/core/checked.hpp"
#include "xclip/io/checkpoint.hpp"
#include "xclip/io/zip.hpp"

namespace xclip::io {

using detail::NamedSpecs;
using pickle::ValuePtr;

namespace {

// The first pickle of a legacy torch.save file: PROTO 2, LONG1 of the 10-byte magic number
// 0x1950a86a20f9469cfc6c, STOP.
constexpr uint8_t kLegacyMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                    0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};

bool is_legacy_torch(const FileBytes& f) {
  return f.size() >= sizeof kLegacyMagic && std::memcmp(f.data(), kLegacyMagic, sizeof kLegacyMagic) == 0;
}

// The archive's record folder: "<prefix>data.pkl" at the top level ("archive/data.pkl").
const ZipEntry* find_data_pkl(const ZipArchive& zip) {
  const ZipEntry* best = nullptr;
  for (const auto& e : zip.entries()) {
    const bool top = e.name == "data.pkl" ||
                     (e.name.size() > 9 && e.name.compare(e.name.size() - 9, 9, "/data.pkl") == 0 &&
                      e.name.find('/') == e.name.size() - 9);
    if (top && !best) best = &e;
  }
  return best;
}

bool is_torchscript(const ZipArchive& zip, const std::string& prefix) {
  if (zip.find(prefix + "constants.pkl")) return true;
  for (const auto& e : zip.entries())
    if (e.name.compare(0, prefix.size() + 5, prefix + "code/") == 0) return true;
  return false;
}

NamedTensors materialize_all(const NamedSpecs& specs, const std::string& file) {
  NamedTensors out(file);
  for (const auto& [name, v] : specs) out.add(name, detail::materialize(detail::tensor_spec(*v), file, name));
  return out;
}

// A zip entry's storage: a view of the mapping when stored, an inflated copy otherwise.
void resolve_zip_storage(const ZipArchive& zip, const std::string& prefix, detail::StorageRef& ref) {
  const ZipEntry* e = zip.find(prefix + "data/" + ref.key);
  XCLIP_CHECK(e != nullptr, zip.name(), ": the archive has no record '", prefix, "data/", ref.key,
              "' for a storage its data.pkl uses (truncated or corrupt archive)");
  const uint64_t need = checked_nbytes(ref.numel, dtype_size(ref.dtype), zip.name() + ": storage '" + ref.key + "'");
  XCLIP_CHECK(e->size >= need, zip.name(), ": record '", e->name, "' holds ", e->size, " bytes, but its ",
              ref.type_name, " of ", ref.numel, " elements needs ", need);
  if (ZipArchive::is_stored(*e)) {
    std::string_view view = zip.stored_view(*e);
    ref.storage = Storage::wrap(const_cast<char*>(view.data()), view.size(), Device::cpu, zip.bytes());
  } else {
    auto data = std::make_shared<std::string>(zip.read(*e));
    ref.storage = Storage::wrap(data->data(), data->size(), Device::cpu, data);
  }
}

NamedTensors load_zip(const std::shared_ptr<FileBytes>& bytes, CheckpointInfo& info) {
  ZipArchive zip(bytes);
  const std::string& file = zip.name();
  const ZipEntry* pkl = find_data_pkl(zip);
  XCLIP_CHECK(pkl != nullptr, file, ": a ZIP archive without data.pkl: not a PyTorch file");
  const std::string prefix = pkl->name.substr(0, pkl->name.size() - 8);
  const bool script = is_torchscript(zip, prefix);
  info.kind = script ? CheckpointKind::torchscript : CheckpointKind::torch_zip;
  const std::string pickle_bytes = zip.read(*pkl);
  auto result = detail::unpickle_torch(pickle_bytes, file + ":" + pkl->name, bytes->size(),
                                       [&](detail::StorageRef& ref) { resolve_zip_storage(zip, prefix, ref); });
  if (!script) return materialize_all(detail::saved_object_state_dict(*result.root, file, info.notes), file);

  std::map<std::string, std::string> code_cache;  // module path -> source text ("" when absent)
  auto lookup = [&](const std::string& module, const std::string& name) -> std::optional<detail::ScriptClassInfo> {
    auto it = code_cache.find(module);
    if (it == code_cache.end()) {
      std::string path = prefix + "code/" + module + ".py";
      for (size_t i = prefix.size() + 5; i < path.size() - 3; ++i)
        if (path[i] == '.') path[i] = '/';
      const ZipEntry* e = zip.find(path);
      it = code_cache.emplace(module, e ? zip.read(*e) : std::string()).first;
    }
    return detail::parse_script_class(it->second, name);
  };
  return materialize_all(detail::script_module_state_dict(*result.root, lookup, file, info.notes), file);
}

// Legacy torch.save (before 1.6): magic, protocol, sys_info and main pickles, then a pickled list of
// storage keys, then per key an 8-byte element count and the raw elements.
NamedTensors load_legacy(const std::shared_ptr<FileBytes>& bytes, CheckpointInfo& info) {
  const std::string& file = bytes->name();
  info.kind = CheckpointKind::torch_legacy;
  std::string_view rest = bytes->view();
  auto next_pickle = [&](const char* what) {
    size_t used = 0;
    pickle::Options opt;
    opt.name = file + " (" + what + ")";
    ValuePtr v = pickle::load(rest, opt, &used);
    rest.remove_prefix(used);
    return v;
  };
  rest.remove_prefix(sizeof kLegacyMagic);
  const int64_t protocol = next_pickle("protocol version")->as_int();
  XCLIP_CHECK(protocol == 1001, file, ": legacy torch file with protocol version ", protocol, " (expected 1001)");
  ValuePtr sys_info = next_pickle("system info");
  ValuePtr little = sys_info->get("little_endian");
  XCLIP_CHECK(!little || little->as_bool(), file, ": big-endian legacy torch files are not supported");

  size_t used = 0;
  auto result = detail::unpickle_torch(rest, file, bytes->size(), [](detail::StorageRef&) {}, &used);
  rest.remove_prefix(used);
  ValuePtr keys = next_pickle("storage keys");
  XCLIP_CHECK(keys->kind == pickle::Kind::list, file, ": legacy storage key list is a ", pickle::kind_name(keys->kind));
  for (const auto& k : keys->items) {
    const std::string key = k->kind == pickle::Kind::string ? k->text : k->repr(40);
    auto it = result.storages.find(key);
    XCLIP_CHECK(it != result.storages.end(), file, ": legacy storage '", key, "' is listed but never used");
    detail::StorageRef& ref = *it->second;
    XCLIP_CHECK(rest.size() >= 8, file, ": truncated: the data of storage '", key, "' is missing");
    uint64_t numel = 0;
    for (int i = 7; i >= 0; --i) numel = (numel << 8) | uint8_t(rest[size_t(i)]);
    rest.remove_prefix(8);
    XCLIP_CHECK(numel == ref.numel, file, ": storage '", key, "' holds ", numel, " elements, its tensors say ",
                ref.numel);
    const size_t elem = ref.supported ? dtype_size(ref.dtype) : 1;
    XCLIP_CHECK(ref.supported, file, ": storage '", key, "' is a torch.", ref.type_name, ", which is not supported");
    const size_t n = size_t(checked_nbytes(numel, elem, file + ": storage '" + key + "'"));
    XCLIP_CHECK(n <= rest.size(), file, ": truncated: storage '", key, "' needs ", n, " bytes, ", rest.size(),
                " remain");
    auto* data = const_cast<char*>(rest.data());
    if (reinterpret_cast<uintptr_t>(data) % elem == 0) {
      ref.storage = Storage::wrap(data, n, Device::cpu, bytes);
    } else {  // legacy records are packed: copy what is not aligned
      ref.storage = Storage::allocate(n, Device::cpu);
      std::memcpy(ref.storage->data, data, n);
    }
    rest.remove_prefix(n);
  }
  return materialize_all(detail::saved_object_state_dict(*result.root, file, info.notes), file);
}

std::string describe_start(const FileBytes& f) {
  std::string hex;
  const char* d = "0123456789abcdef";
  for (size_t i = 0; i < std::min<size_t>(f.size(), 8); ++i) hex += std::string{d[f.data()[i] >> 4], d[f.data()[i] & 15], ' '};
  return f.size() == 0 ? std::string("empty file") : "starts with " + hex;
}

}  // namespace

const char* checkpoint_kind_name(CheckpointKind kind) {
  switch (kind) {
    case CheckpointKind::unknown: return "unknown";
    case CheckpointKind::safetensors: return "safetensors";
    case CheckpointKind::hf_clip_safetensors: return "hf_clip_safetensors";
    case CheckpointKind::torch_zip: return "torch_zip";
    case CheckpointKind::torchscript: return "torchscript";
    case CheckpointKind::torch_legacy: return "torch_legacy";
  }
  return "?";
}

const std::vector<std::string>& openai_jit_extra_names() {
  static const std::vector<std::string> names{"input_resolution", "context_length", "vocab_size"};
  return names;
}

CheckpointKind detect_checkpoint_kind(const std::shared_ptr<FileBytes>& bytes) {
  const FileBytes& f = *bytes;
  if (looks_like_zip(f.view())) {
    try {
      ZipArchive zip(bytes);
      const ZipEntry* pkl = find_data_pkl(zip);
      if (!pkl) return CheckpointKind::unknown;
      return is_torchscript(zip, pkl->name.substr(0, pkl->name.size() - 8)) ? CheckpointKind::torchscript
                                                                            : CheckpointKind::torch_zip;
    } catch (const Error&) {
      return CheckpointKind::torch_zip;  // a damaged archive: loading it reports what is wrong
    }
  }
  if (is_legacy_torch(f)) return CheckpointKind::torch_legacy;
  if (f.size() >= 9 && f.data()[8] == '{') {
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | f.data()[i];
    if (n <= f.size() - 8) {
      try {
        return is_hf_clip(parse_safetensors(bytes)) ? CheckpointKind::hf_clip_safetensors : CheckpointKind::safetensors;
      } catch (const Error&) {
        return CheckpointKind::safetensors;  // a damaged file: loading it reports what is wrong
      }
    }
  }
  return CheckpointKind::unknown;
}

CheckpointKind detect_checkpoint_kind(const std::string& path) { return detect_checkpoint_kind(FileBytes::map(path)); }

NamedTensors load_torch_checkpoint(const std::shared_ptr<FileBytes>& bytes, CheckpointInfo* info) {
  CheckpointInfo local;
  CheckpointInfo& out = info ? *info : local;
  if (looks_like_zip(bytes->view())) return load_zip(bytes, out);
  if (is_legacy_torch(*bytes)) return load_legacy(bytes, out);
  throw Error(format(bytes->name(), ": not a PyTorch file (neither a ZIP archive nor a legacy torch.save; ",
                     describe_start(*bytes), ")"));
}

NamedTensors load_torch_checkpoint(const std::string& path, CheckpointInfo* info) {
  return load_torch_checkpoint(FileBytes::map(path), info);
}

NamedTensors load_any_checkpoint(const std::shared_ptr<FileBytes>& bytes, CheckpointInfo* info) {
  CheckpointInfo local;
  CheckpointInfo& out = info ? *info : local;
  out.kind = detect_checkpoint_kind(bytes);
  NamedTensors tensors;
  switch (out.kind) {
    case CheckpointKind::safetensors:
    case CheckpointKind::hf_clip_safetensors: tensors = parse_safetensors(bytes); break;
    case CheckpointKind::torch_zip:
    case CheckpointKind::torchscript:
    case CheckpointKind::torch_legacy: tensors = load_torch_checkpoint(bytes, &out); break;
    case CheckpointKind::unknown:
      throw Error(format(bytes->name(), ": not a checkpoint this program reads (safetensors, PyTorch zip or ",
                         "TorchScript archive, legacy torch.save); ", describe_start(*bytes)));
  }
  if (is_hf_clip(tensors)) {
    auto metadata = tensors.metadata;
    tensors = hf_clip_to_openai(tensors);
    tensors.metadata = std::move(metadata);
    out.renamed_from_hf = true;
  }
  return tensors;
}

NamedTensors load_any_checkpoint(const std::string& path, CheckpointInfo* info) {
  return load_any_checkpoint(FileBytes::map(path), info);
}

}  // namespace xclip::io
