// xclip-cli convert IN OUT: any checkpoint the loaders read (OpenAI TorchScript .pt, torch.save
// state_dicts such as the official X-CLIP pytorch_model.bin.N, Hugging Face CLIPModel
// safetensors, our safetensors such as checkpoint.N/model.safetensors) -> safetensors, or -> a
// torch.save file that the original X-CLIP code torch.loads (OUT pytorch_model.bin.N, *.bin, *.pt,
// *.pth; --format overrides the choice by name). Prints what it found.
//
// Names: an X-CLIP state keeps its clip.* / matrices / transformerClip.* names; a CLIP-only state
// is written with the bare OpenAI names it has (visual.conv1.weight, ...), which X-CLIP's
// load_pretrained accepts as the original from_pretrained does; Hugging Face names are converted
// to OpenAI's by the loader. OpenAI's TorchScript extras (input_resolution, context_length,
// vocab_size) are dropped: the original loaders delete them too and the config comes from shapes.
//
// torch output: the original load_state_dicts the file by name into its module, so the tensors are
// first checked against the model they describe, built from model_config.json beside IN (as
// training writes it) or from the shapes (convert_model.hpp): every parameter present with its
// exact shape and nothing else, or nothing is written. The file then lists them in the model's
// state_dict order, as torch.save(model.state_dict()) does, in PyTorch 1.13's exact bytes
// (xclip/io/torch_save.hpp). The same check runs for a safetensors output when model_config.json is
// beside IN (a config that does not describe the weights would be misleading).
//
// Safety: the whole input is read and checked (zip entries against their CRC-32, the config
// inferred, the model check) before anything is written, and the output is written under a
// temporary name and renamed into place, so a failure never leaves a half-written OUT nor touches
// an existing one.
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
#include "convert_model.hpp"
#include "xclip/core/error.hpp"
#include "xclip/io/checkpoint.hpp"
#include "xclip/io/torch_save.hpp"
#include "xclip/io/zip.hpp"
#include "xclip/models/clip.hpp"
#include "xclip/models/heads/xclip_head.hpp"

namespace xclip::cli {
namespace {

const char* kUsage =
    "usage: xclip-cli convert IN OUT [--format safetensors|torch] [--dtype f32|f16] [--head_width 64] [--dry_run]\n"
    "  IN          OpenAI TorchScript .pt, torch.save state_dict (e.g. X-CLIP pytorch_model.bin.N),\n"
    "              Hugging Face CLIPModel safetensors or safetensors (e.g. our checkpoint.N/model.safetensors);\n"
    "              the kind is read from the content\n"
    "  OUT         *.safetensors: safetensors. Any other name (pytorch_model.bin.N, *.bin, *.pt, *.pth):\n"
    "              a torch.save file as PyTorch 1.13 writes it, which the original X-CLIP code torch.loads\n"
    "              (e.g. its eval of output_dir/pytorch_model.bin.N). Written atomically (temporary name,\n"
    "              then rename); an existing file is replaced only when the conversion succeeds\n"
    "  --format    safetensors | torch: overrides the choice by OUT's name\n"
    "  --dtype     cast every floating tensor to f32 or f16 (default: keep the stored dtypes)\n"
    "  --head_width  attention head width, for the head counts only (heads are not stored in the\n"
    "              weights; 64 in every OpenAI CLIP); not needed with model_config.json beside IN\n"
    "  --dry_run   read, check and describe IN; write nothing (OUT may then be omitted; --format torch\n"
    "              also runs the model check)\n"
    "Names: X-CLIP states keep the official names (clip.*, the matrices, transformerClip.*); CLIP-only\n"
    "states keep their OpenAI names (Hugging Face names are converted to them); OpenAI's\n"
    "input_resolution / context_length / vocab_size entries are dropped.\n"
    "Model check (torch output, and any output with model_config.json beside IN): the tensors must be\n"
    "exactly the parameters of the model they describe, with its shapes (config from model_config.json\n"
    "beside IN, as training writes it, else from the shapes); otherwise nothing is written and the\n"
    "error names the tensors. A torch output lists them in the model's state_dict order.\n";

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

const std::vector<const char*>& matrix_names() { return models::AosmMatrices::names(); }

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

enum class OutputFormat { safetensors, torch };

// --format wins; else OUT's name: *.safetensors is safetensors, any other name a torch.save file
// (pytorch_model.bin.N has no extension torch would recognise: torch.load reads any name).
OutputFormat output_format(const std::optional<std::string>& flag, const std::optional<std::string>& out) {
  if (flag) {
    if (*flag == "safetensors") return OutputFormat::safetensors;
    if (*flag == "torch") return OutputFormat::torch;
    throw Error(format("--format must be safetensors or torch, got '", *flag, "'"));
  }
  return out && !out->ends_with(".safetensors") ? OutputFormat::torch : OutputFormat::safetensors;
}

void print_config(const DescribedModel& model, int64_t head_width) {
  const auto& v = model.clip.vision;
  const auto& t = model.clip.text;
  print_row("vision:    ", format("ViT width ", v.width, ", ", v.layers, " layers, ", v.heads, " heads, patch ", v.patch,
                                  ", ", v.resolution, " px (", v.tokens(), " tokens)"));
  print_row("text:      ", format("width ", t.width, ", ", t.layers, " layers, ", t.heads, " heads, context ",
                                  t.context_length, ", vocab ", t.vocab_size));
  print_row("embed dim: ", std::to_string(model.clip.embed_dim));
  print_row("config:    ", model.config_source.empty()
                               ? format("read off the shapes (heads = width / ", head_width, ")")
                               : "from " + model.config_source);
}

void write_output(const std::string& out, OutputFormat fmt, io::NamedTensors& tensors) {
  if (fmt == OutputFormat::torch) {
    io::write_torch_save(out, tensors);
  } else {
    tensors.metadata["format"] = "pt";  // what Hugging Face's loaders expect of PyTorch weights
    io::save_safetensors(out, tensors);
  }
  std::cout << "wrote " << out << (fmt == OutputFormat::torch ? " (torch.save)" : " (safetensors)") << ": "
            << tensors.size() << " tensors, " << byte_count(tensors.total_bytes()) << "; " << dtype_summary(tensors)
            << "\n";
}

int convert(const std::string& in, const std::optional<std::string>& out, OutputFormat fmt,
            std::optional<DType> target, int64_t head_width) {
  const auto bytes = io::FileBytes::map(in);
  io::CheckpointInfo info;
  io::NamedTensors tensors = io::load_any_checkpoint(bytes, &info);
  if (io::looks_like_zip(bytes->view())) check_zip_crcs(bytes);
  const std::optional<std::string> prefix = models::find_clip_prefix(tensors.list());
  XCLIP_CHECK(prefix, in, ": a ", io::checkpoint_kind_name(info.kind), " file with ", tensors.size(),
              " tensors but no CLIP weights (neither visual.proj nor clip.visual.proj); convert writes CLIP and "
              "X-CLIP checkpoints only");
  const DescribedModel model = describe_model(tensors, in, *prefix, head_width);
  const XClipParts parts = find_xclip_parts(tensors, *prefix);
  const size_t stored_count = tensors.size(), stored_bytes = tensors.total_bytes();
  const std::string stored_dtypes = dtype_summary(tensors);
  const std::vector<std::string> dropped = drop_jit_extras(tensors, *prefix);
  const size_t cast = target ? cast_floating(tensors, *target) : 0;

  std::cout << "convert " << in << "\n";
  print_row("kind:      ", format(io::checkpoint_kind_name(info.kind),
                                  info.renamed_from_hf ? " (Hugging Face CLIPModel names, renamed to OpenAI's)" : ""));
  print_row("CLIP:      ", prefix->empty() ? "bare OpenAI names" : "under '" + *prefix + "'");
  print_config(model, head_width);
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
  // Before anything is written: the output must load by name into the model it describes.
  if (fmt == OutputFormat::torch || !model.config_source.empty()) {
    tensors = check_against_model(tensors, model, in);
    print_row("checked:   ", format("all ", tensors.size(), " tensors are the parameters of ", model.str(),
                                    ", with their shapes"));
  }
  if (out) write_output(*out, fmt, tensors);
  return 0;
}

int run_convert(const std::vector<std::string>& argv) {
  Args args(argv, {"dtype", "head_width", "format"}, {"help", "dry_run"});
  const bool dry = args.flag("dry_run");
  const size_t n = args.positional().size();
  if (args.flag("help") || !(n == 2 || (dry && n == 1))) {
    std::fputs(kUsage, args.flag("help") ? stdout : stderr);
    return args.flag("help") ? 0 : 2;
  }
  const std::string in = args.positional()[0];
  std::optional<std::string> out;
  if (n == 2) out = args.positional()[1];
  if (out) XCLIP_CHECK(*out != in, in, ": the output must differ from the input");
  const OutputFormat fmt = output_format(args.get("format"), out);
  if (dry) out.reset();
  const std::optional<DType> target = parse_target_dtype(args.get("dtype"));
  const int64_t head_width = args.get_int("head_width", 64);
  try {
    return convert(in, out, fmt, target, head_width);
  } catch (const std::exception& e) {
    // Every loader error names the file already; anything else (allocation, ...) gets it here.
    const std::string what = e.what();
    if (what.find(in) != std::string::npos) throw;
    throw Error(format(in, ": ", what));
  }
}

const CommandRegistrar registrar{
    Command{"convert", "any CLIP / X-CLIP checkpoint (.pt, pytorch_model.bin, HF, safetensors) -> safetensors or "
                       "pytorch_model.bin.N (torch.save)", run_convert}};

}  // namespace
}  // namespace xclip::cli
