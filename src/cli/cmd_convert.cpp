// xclip-cli convert IN OUT.safetensors: any checkpoint the loaders read (OpenAI TorchScript .pt,
// torch.save state_dicts such as the official X-CLIP pytorch_model.bin.N, Hugging Face CLIPModel
// safetensors, our safetensors) -> safetensors under the official names. Prints what it found.
//
// Names: an X-CLIP state keeps its clip.* / matrices / transformerClip.* names; a CLIP-only state
// is written with the bare OpenAI names it has (visual.conv1.weight, ...), which X-CLIP's
// load_pretrained accepts as the original from_pretrained does; Hugging Face names are converted
// to OpenAI's by the loader. OpenAI's TorchScript extras (input_resolution, context_length,
// vocab_size) are dropped: the original loaders delete them too and the config comes from shapes.
//
// Safety: the whole input is read and checked (zip entries against their CRC-32, the CLIP config
// inferred) before anything is written, and the output is written under a temporary name and
// renamed into place, so a failure never leaves a half-written OUT nor touches an existing one.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <zlib.h>

#include "args.hpp"
#include "command.hpp"
#include "xclip/core/error.hpp"
#include "xclip/io/checkpoint.hpp"
#include "xclip/models/clip.hpp"
#include "xclip/io/zip.hpp"

namespace xclip::cli {
namespace {

const char* kUsage =
    "usage: xclip-cli convert IN OUT.safetensors [--dtype f32|f16] [--head_width 64] [--dry_run]\n"
    "  IN          OpenAI TorchScript .pt, torch.save state_dict (e.g. X-CLIP pytorch_model.bin.N),\n"
    "              Hugging Face CLIPModel safetensors or safetensors; the kind is read from the content\n"
    "  OUT         written atomically (temporary name, then rename); an existing file is replaced\n"
    "              only when the conversion succeeds\n"
    "  --dtype     cast every floating tensor to f32 or f16 (default: keep the stored dtypes)\n"
    "  --head_width  attention head width, for the printed head counts only (heads are not stored in\n"
    "              the weights; 64 in every OpenAI CLIP)\n"
    "  --dry_run   read, check and describe IN; write nothing (OUT may then be omitted)\n"
    "Names: X-CLIP states keep the official names (clip.*, the matrices, transformerClip.*); CLIP-only\n"
    "states keep their OpenAI names (Hugging Face names are converted to them); OpenAI's\n"
    "input_resolution / context_length / vocab_size entries are dropped.\n";

// "1234 bytes" below a MiB, else "337.1 MiB (353436700 bytes)"; `exact` false drops the count.
std::string byte_count(size_t bytes, bool exact = true) {
  if (bytes < (size_t(1) << 20)) return format(bytes, " bytes");
  char mib[32];
  std::snprintf(mib, sizeof mib, "%.1f MiB", double(bytes) / double(1 << 20));
  return exact ? format(mib, " (", bytes, " bytes)") : std::string(mib);
}

// "f32 x 107 (97.0 MiB), f16 x 195 (240.0 MiB)", in dtype order.
std::string dtype_summary(const io::NamedTensors& tensors) {
  std::map<DType, std::pair<size_t, size_t>> by_dtype;  // count, bytes
  for (const auto& [name, t] : tensors) {
    auto& [count, bytes] = by_dtype[t.dtype()];
    ++count;
    bytes += t.nbytes();
  }
  std::string out;
  for (const auto& [dtype, cb] : by_dtype)
    out += format(out.empty() ? "" : ", ", dtype_name(dtype), " x ", cb.first, " (", byte_count(cb.second, false), ")");
  return out;
}

// The stored zip entries of torch files are views of the file that the loader does not CRC-check
// (that would read every byte twice); a converter is where a flipped bit must be caught.
void check_zip_crcs(const std::shared_ptr<io::FileBytes>& bytes) {
  const io::ZipArchive zip(bytes);
  for (const io::ZipEntry& e : zip.entries()) {
    if (!io::ZipArchive::is_stored(e)) {
      (void)zip.read(e);  // inflates and checks the CRC-32
      continue;
    }
    const std::string_view data = zip.stored_view(e);
    uLong sum = crc32(0L, Z_NULL, 0);
    for (size_t pos = 0; pos < data.size(); pos += size_t(1) << 30) {
      const size_t n = std::min(data.size() - pos, size_t(1) << 30);
      sum = crc32(sum, reinterpret_cast<const Bytef*>(data.data() + pos), uInt(n));
    }
    XCLIP_CHECK(uint32_t(sum) == e.crc32, zip.name(), ": corrupt ZIP archive: entry '", e.name,
                "' fails its CRC-32 check");
  }
}

// The X-CLIP parts of an official state_dict, besides CLIP under "clip.".
struct XClipParts {
  std::set<int> temporal_layers;         // N of transformerClip.resblocks.N.*
  bool frame_positions = false;          // frame_position_embeddings.weight
  std::vector<std::string> matrices;     // the AOSM matrices present (global_mat_weight, ...)
  std::vector<std::string> other;        // names that are neither CLIP nor a known X-CLIP part
  bool any() const { return !temporal_layers.empty() || frame_positions || !matrices.empty(); }
};

const std::vector<std::string>& matrix_names() {
  static const std::vector<std::string> names = {"global_mat_weight", "word_logit_weight", "frame_logit_weight",
                                                 "local_mat_weight",  "frame_mat_weight",  "word_mat_weight",
                                                 "frame_mat_weight2", "word_mat_weight2"};
  return names;
}

XClipParts find_xclip_parts(const io::NamedTensors& tensors, const std::string& clip_prefix) {
  XClipParts parts;
  const std::string blocks = "transformerClip.resblocks.";
  for (const auto& [name, t] : tensors) {
    if (!clip_prefix.empty() && name.starts_with(clip_prefix)) continue;
    if (name.starts_with(blocks)) {
      parts.temporal_layers.insert(std::stoi(name.substr(blocks.size())));
    } else if (name == "frame_position_embeddings.weight") {
      parts.frame_positions = true;
    } else if (std::find(matrix_names().begin(), matrix_names().end(), name) != matrix_names().end()) {
      parts.matrices.push_back(name);
    } else if (!clip_prefix.empty()) {
      parts.other.push_back(name);  // with bare CLIP names every name is CLIP's: nothing to report
    }
  }
  return parts;
}

std::string describe_xclip(const XClipParts& p) {
  if (!p.any()) return "no (CLIP only: written under its own names, loadable as X-CLIP's pretrained CLIP)";
  std::string s = format("temporal encoder ", p.temporal_layers.size(), " layers (transformerClip), ",
                         "frame_position_embeddings ", p.frame_positions ? "yes" : "no", ", matrices ",
                         p.matrices.size(), "/", matrix_names().size());
  if (!p.matrices.empty() && p.matrices.size() < matrix_names().size()) {
    s += " (";
    for (size_t i = 0; i < p.matrices.size(); ++i) s += (i ? ", " : "") + p.matrices[i];
    s += ")";
  }
  return s;
}

// Removes OpenAI's scalar TorchScript buffers; returns the names removed.
std::vector<std::string> drop_jit_extras(io::NamedTensors& tensors, const std::string& clip_prefix) {
  std::vector<std::string> dropped;
  for (const std::string& extra : io::openai_jit_extra_names())
    for (const std::string& name : {extra, clip_prefix + extra})
      if (tensors.erase(name)) dropped.push_back(name);
  return dropped;
}

// Casts floating tensors to `target` (integer tensors keep their dtype); returns how many changed.
size_t cast_floating(io::NamedTensors& tensors, DType target) {
  size_t changed = 0;
  for (const std::string& name : tensors.names()) {
    const Tensor& t = tensors.at(name);
    if (!is_floating(t.dtype()) || t.dtype() == target) continue;
    tensors.set(name, t.to(target));
    ++changed;
  }
  return changed;
}

std::optional<DType> parse_target_dtype(const std::optional<std::string>& flag) {
  if (!flag) return std::nullopt;
  if (*flag == "f32") return DType::f32;
  if (*flag == "f16") return DType::f16;
  throw Error(format("--dtype must be f32 or f16, got '", *flag, "'"));
}

void print_row(const char* key, const std::string& value) { std::cout << "  " << key << value << "\n"; }

// heads = width / head_width is the one number the weights do not hold: say so when it fails.
models::ClipConfig infer_config(const io::NamedTensors& tensors, const std::string& prefix, int64_t head_width) {
  try {
    return models::infer_clip_config(tensors.list(), prefix, head_width);
  } catch (const Error& e) {
    const std::string what = tensors.source() + ": " + e.what();
    if (what.find("heads of width") == std::string::npos) throw Error(what);
    throw Error(what + " (heads are not stored in the weights: pass --head_width for narrower heads)");
  }
}

int convert(const std::string& in, const std::optional<std::string>& out, std::optional<DType> target,
            int64_t head_width) {
  const auto bytes = io::FileBytes::map(in);
  io::CheckpointInfo info;
  io::NamedTensors tensors = io::load_any_checkpoint(bytes, &info);
  if (io::looks_like_zip(bytes->view())) check_zip_crcs(bytes);
  const std::optional<std::string> prefix = models::find_clip_prefix(tensors.list());
  XCLIP_CHECK(prefix, in, ": a ", io::checkpoint_kind_name(info.kind), " file with ", tensors.size(),
              " tensors but no CLIP weights (neither visual.proj nor clip.visual.proj); convert writes CLIP and "
              "X-CLIP checkpoints only");
  const models::ClipConfig config = infer_config(tensors, *prefix, head_width);
  const XClipParts parts = find_xclip_parts(tensors, *prefix);
  const size_t stored_count = tensors.size(), stored_bytes = tensors.total_bytes();
  const std::string stored_dtypes = dtype_summary(tensors);
  const std::vector<std::string> dropped = drop_jit_extras(tensors, *prefix);
  const size_t cast = target ? cast_floating(tensors, *target) : 0;

  std::cout << "convert " << in << "\n";
  print_row("kind:      ", format(io::checkpoint_kind_name(info.kind),
                                  info.renamed_from_hf ? " (Hugging Face CLIPModel names, renamed to OpenAI's)" : ""));
  print_row("CLIP:      ", prefix->empty() ? "bare OpenAI names" : "under '" + *prefix + "'");
  const auto& v = config.vision;
  const auto& t = config.text;
  print_row("vision:    ", format("ViT width ", v.width, ", ", v.layers, " layers, ", v.heads, " heads, patch ", v.patch,
                                  ", ", v.resolution, " px (", v.tokens(), " tokens)"));
  print_row("text:      ", format("width ", t.width, ", ", t.layers, " layers, ", t.heads, " heads, context ",
                                  t.context_length, ", vocab ", t.vocab_size));
  print_row("embed dim: ", std::to_string(config.embed_dim));
  print_row("X-CLIP:    ", describe_xclip(parts));
  if (!parts.other.empty())
    print_row("other:     ", format(parts.other.size(), " tensors kept as named (first: ", parts.other[0], ")"));
  print_row("tensors:   ", format(stored_count, ", ", byte_count(stored_bytes)));
  print_row("dtypes:    ", stored_dtypes);
  for (const std::string& note : info.notes) print_row("note:      ", note);
  if (!dropped.empty())
    print_row("dropped:   ", format(dropped.size(), " OpenAI TorchScript entries (input_resolution, context_length, "
                                    "vocab_size: the original loaders delete them; the config comes from the shapes)"));
  if (target) print_row("cast:      ", format(cast, " floating tensors to ", dtype_name(*target)));
  if (!out) return 0;

  tensors.metadata["format"] = "pt";  // what Hugging Face's loaders expect of PyTorch weights
  io::save_safetensors(*out, tensors);
  std::cout << "wrote " << *out << ": " << tensors.size() << " tensors, " << byte_count(tensors.total_bytes())
            << "; " << dtype_summary(tensors) << "\n";
  return 0;
}

int run_convert(const std::vector<std::string>& argv) {
  Args args(argv, {"dtype", "head_width"}, {"help", "dry_run"});
  const bool dry = args.flag("dry_run");
  const size_t n = args.positional().size();
  if (args.flag("help") || !(n == 2 || (dry && n == 1))) {
    std::fputs(kUsage, args.flag("help") ? stdout : stderr);
    return args.flag("help") ? 0 : 2;
  }
  const std::string in = args.positional()[0];
  std::optional<std::string> out;
  if (!dry) {
    out = args.positional()[1];
    XCLIP_CHECK(out->ends_with(".safetensors"), *out, ": the output is written as safetensors; name it *.safetensors");
    XCLIP_CHECK(*out != in, in, ": the output must differ from the input");
  }
  const std::optional<DType> target = parse_target_dtype(args.get("dtype"));
  const int64_t head_width = args.get_int("head_width", 64);
  try {
    return convert(in, out, target, head_width);
  } catch (const std::exception& e) {
    // Every loader error names the file already; anything else (allocation, ...) gets it here.
    const std::string what = e.what();
    if (what.find(in) != std::string::npos) throw;
    throw Error(format(in, ": ", what));
  }
}

const CommandRegistrar registrar{
    Command{"convert", "any CLIP / X-CLIP checkpoint (.pt, pytorch_model.bin, HF) -> safetensors", run_convert}};

}  // namespace
}  // namespace xclip::cli
