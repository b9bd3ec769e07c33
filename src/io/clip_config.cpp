#include "xclip/io/clip_config.hpp"

#include <optional>

namespace xclip::io {

models::ClipConfig infer_clip_config(const NamedTensors& tensors, const std::string& prefix, int64_t head_width) {
  models::ShapeList shapes;
  shapes.reserve(tensors.size());
  for (const auto& [name, t] : tensors) shapes.emplace_back(name, t.shape());
  try {
    return models::infer_clip_config(shapes, prefix, head_width);
  } catch (const Error& e) {
    if (tensors.source().empty()) throw;
    throw Error(format(tensors.source(), ": ", e.what()));
  }
}

std::optional<std::string> find_clip_prefix(const NamedTensors& tensors) {
  for (const char* prefix : {"", "clip."})
    if (tensors.contains(std::string(prefix) + "visual.proj")) return std::string(prefix);
  return std::nullopt;
}

}  // namespace xclip::io
