// CLIP configuration inferred from a state dict's names and shapes, as the original build_model
// (modeling_xclip.py:41-65) does it: spec §1.1.
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "xclip/core/checked.hpp"
#include "xclip/models/clip.hpp"

namespace xclip::models {

namespace {

// The shapes under `prefix`, prefix stripped.
std::map<std::string, Shape> strip_prefix(const ShapeList& shapes, const std::string& prefix) {
  std::map<std::string, Shape> out;
  for (const auto& [name, shape] : shapes)
    if (name.starts_with(prefix)) out.emplace(name.substr(prefix.size()), shape);
  return out;
}

const Shape& need(const std::map<std::string, Shape>& m, const std::string& prefix, const std::string& name,
                  int ndim) {
  auto it = m.find(name);
  XCLIP_CHECK(it != m.end(), "CLIP config: tensor '", prefix, name, "' is missing from the state dict");
  XCLIP_CHECK(it->second.ndim() == ndim, "CLIP config: '", prefix, name, "' has shape ", it->second.str(),
              ", expected ", ndim, " dimensions");
  return it->second;
}

int64_t heads_for(int64_t width, int64_t head_width, const char* tower) {
  XCLIP_CHECK(head_width > 0, "CLIP config: head width must be positive, got ", head_width);
  const int64_t heads = width / head_width;  // floor, as the original `width // 64`
  XCLIP_CHECK(heads > 0 && width % heads == 0, "CLIP config: ", tower, " width ", width,
              " cannot be split into heads of width ", head_width);
  return heads;
}

ClipVisionConfig infer_vision(const std::map<std::string, Shape>& m, const std::string& prefix,
                              int64_t head_width) {
  ClipVisionConfig v;
  const Shape& conv = need(m, prefix, "visual.conv1.weight", 4);
  XCLIP_CHECK(conv[1] == 3 && conv[2] == conv[3], "CLIP config: '", prefix, "visual.conv1.weight' has shape ",
              conv.str(), ", expected [width, 3, patch, patch]");
  v.width = conv[0];
  v.patch = conv[3];
  for (const auto& [name, _] : m)
    if (name.starts_with("visual.") && name.ends_with(".attn.in_proj_weight")) ++v.layers;
  const Shape& pos = need(m, prefix, "visual.positional_embedding", 2);
  const int64_t patches = pos[0] - 1;
  v.grid = std::llround(std::sqrt(double(std::max<int64_t>(patches, 0))));
  XCLIP_CHECK(patches > 0 && v.grid * v.grid == patches && pos[1] == v.width, "CLIP config: '", prefix,
              "visual.positional_embedding' has shape ", pos.str(), ", expected [grid² + 1, ", v.width,
              "] for a square grid of patches");
  v.resolution = v.patch * v.grid;
  v.heads = heads_for(v.width, head_width, "vision");
  return v;
}

ClipTextConfig infer_text(const std::map<std::string, Shape>& m, const std::string& prefix, int64_t head_width) {
  ClipTextConfig t;
  t.context_length = need(m, prefix, "positional_embedding", 2)[0];
  t.vocab_size = need(m, prefix, "token_embedding.weight", 2)[0];
  t.width = need(m, prefix, "ln_final.weight", 1)[0];
  // Distinct N of "transformer.resblocks.N.…" (k.split(".")[2] in the original).
  std::set<std::string> blocks;
  const std::string stem = "transformer.resblocks.";
  for (const auto& [name, _] : m)
    if (name.starts_with(stem)) blocks.insert(name.substr(stem.size(), name.find('.', stem.size()) - stem.size()));
  t.layers = int64_t(blocks.size());
  t.heads = heads_for(t.width, head_width, "text");
  return t;
}

}  // namespace

ClipConfig infer_clip_config(const ShapeList& shapes, const std::string& prefix, int64_t head_width) {
  const std::map<std::string, Shape> m = strip_prefix(shapes, prefix);
  XCLIP_CHECK(!m.empty(), "CLIP config: no tensor name starts with '", prefix, "' (", shapes.size(),
              " tensors given)");
  XCLIP_CHECK(m.count("visual.proj"), "CLIP config: '", prefix,
              "visual.proj' is missing: not a ViT CLIP state dict (ResNet CLIP models are not supported)");
  ClipConfig c;
  c.vision = infer_vision(m, prefix, head_width);
  c.text = infer_text(m, prefix, head_width);
  c.embed_dim = need(m, prefix, "text_projection", 2)[1];
  XCLIP_CHECK(c.vision.layers > 0 && c.text.layers > 0, "CLIP config: found ", c.vision.layers, " vision and ",
              c.text.layers, " text residual blocks under '", prefix, "'; both towers need at least one");
  return c;
}

ClipConfig infer_clip_config(const nn::NamedTensorList& state, const std::string& prefix, int64_t head_width) {
  ShapeList shapes;
  shapes.reserve(state.size());
  for (const auto& [name, t] : state) shapes.emplace_back(name, t.shape());
  return infer_clip_config(shapes, prefix, head_width);
}

ClipConfig ClipConfig::vit_b32() {
  ClipConfig c;
  c.embed_dim = 512;
  c.vision = ClipVisionConfig{768, 12, 12, 32, 7, 224};
  c.text = ClipTextConfig{512, 12, 8, 77, 49408};
  return c;
}

ClipConfig ClipConfig::vit_b16() {
  ClipConfig c = vit_b32();
  c.vision.patch = 16;
  c.vision.grid = 14;
  return c;
}

std::string ClipConfig::str() const {
  std::ostringstream os;
  os << "ViT: width " << vision.width << ", " << vision.layers << " layers, " << vision.heads << " heads, patch "
     << vision.patch << ", " << vision.resolution << " px (" << vision.tokens() << " tokens); text: width "
     << text.width << ", " << text.layers << " layers, " << text.heads << " heads, context " << text.context_length
     << ", vocab " << text.vocab_size << "; embed " << embed_dim;
  return os.str();
}

std::optional<std::string> find_clip_prefix(const nn::NamedTensorList& state) {
  for (const char* prefix : {"", "clip."})
    for (const auto& [name, t] : state)
      if (name == std::string(prefix) + "visual.proj") return std::string(prefix);
  return std::nullopt;
}

nlohmann::json clip_config_to_json(const ClipConfig& c) {
  return {{"embed_dim", c.embed_dim},
          {"vision",
           {{"width", c.vision.width},
            {"layers", c.vision.layers},
            {"heads", c.vision.heads},
            {"patch", c.vision.patch},
            {"grid", c.vision.grid},
            {"resolution", c.vision.resolution}}},
          {"text",
           {{"width", c.text.width},
            {"layers", c.text.layers},
            {"heads", c.text.heads},
            {"context_length", c.text.context_length},
            {"vocab_size", c.text.vocab_size}}}};
}

namespace {
// A size from model_config.json: an integer within [lo, hi] (checked before it sizes a tensor, so a
// typo or a hostile file cannot ask for terabytes or wrap a byte count).
int64_t need(const nlohmann::json& j, const char* key, const char* where, int64_t lo, int64_t hi) {
  XCLIP_CHECK(j.is_object() && j.contains(key) && j.at(key).is_number_integer(), "model config: ", where, ".", key,
              " is missing or not an integer");
  return check_in_range(j.at(key).get<int64_t>(), lo, hi, format("model config: ", where, ".", key));
}
constexpr int64_t kMaxWidth = 1 << 14, kMaxLayers = 256, kMaxPixels = 1 << 14;
}  // namespace

ClipConfig clip_config_from_json(const nlohmann::json& j) {
  XCLIP_CHECK(j.is_object() && j.contains("vision") && j.contains("text"),
              "model config: 'clip' needs 'vision' and 'text'");
  ClipConfig c;
  c.embed_dim = need(j, "embed_dim", "clip", 1, kMaxWidth);
  const auto& v = j.at("vision");
  c.vision = {need(v, "width", "vision", 1, kMaxWidth), need(v, "layers", "vision", 1, kMaxLayers),
              need(v, "heads", "vision", 1, kMaxWidth),  need(v, "patch", "vision", 1, kMaxPixels),
              need(v, "grid", "vision", 1, kMaxPixels),  need(v, "resolution", "vision", 1, kMaxPixels)};
  const auto& t = j.at("text");
  c.text = {need(t, "width", "text", 1, kMaxWidth), need(t, "layers", "text", 1, kMaxLayers),
            need(t, "heads", "text", 1, kMaxWidth), need(t, "context_length", "text", 1, 1 << 16),
            need(t, "vocab_size", "text", 1, 1 << 24)};
  XCLIP_CHECK(c.vision.width % c.vision.heads == 0 && c.text.width % c.text.heads == 0,
              "model config: a width is not a multiple of its heads (vision ", c.vision.width, "/", c.vision.heads,
              ", text ", c.text.width, "/", c.text.heads, ")");
  XCLIP_CHECK(c.vision.patch * c.vision.grid == c.vision.resolution, "model config: vision.resolution ",
              c.vision.resolution, " is not patch x grid (", c.vision.patch, " x ", c.vision.grid, ")");
  return c;
}

}  // namespace xclip::models
