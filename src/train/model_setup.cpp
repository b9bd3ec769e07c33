#include "xclip/train/model_setup.hpp"

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "xclip/autograd.hpp"

namespace xclip::train {

models::ClipConfig scratch_clip_config(const ScratchClipOptions& o) {
  auto positive = [](int64_t v, const char* name) {
    XCLIP_CHECK(v > 0, "--", name, " must be positive, got ", v);
  };
  positive(o.vision_width, "vision_width");
  positive(o.vision_layers, "vision_layers");
  positive(o.patch, "patch");
  positive(o.image_resolution, "image_resolution");
  positive(o.text_width, "text_width");
  positive(o.text_layers, "text_layers");
  positive(o.embed_dim, "embed_dim");
  positive(o.head_width, "head_width");
  positive(o.context_length, "context_length");
  XCLIP_CHECK(o.image_resolution % o.patch == 0, "--image_resolution ", o.image_resolution,
              " must be a multiple of --patch ", o.patch);
  XCLIP_CHECK(o.vision_width % o.head_width == 0 && o.text_width % o.head_width == 0, "--vision_width ",
              o.vision_width, " and --text_width ", o.text_width, " must be multiples of --head_width ", o.head_width);
  models::ClipConfig c;
  c.embed_dim = o.embed_dim;
  const int64_t grid = o.image_resolution / o.patch;
  c.vision = {o.vision_width, o.vision_layers, o.vision_width / o.head_width, o.patch, grid, o.image_resolution};
  c.text = {o.text_width, o.text_layers, o.text_width / o.head_width, o.context_length, o.vocab_size};
  return c;
}

models::LoadReport init_xclip_random(models::XClip& model, uint64_t seed) {
  Generator gen(seed);
  model.clip.init_random(gen);
  // from_pretrained with the CLIP state alone: the copies into the temporal encoder and the
  // identity matrices. Cloned so that the copy does not read what it is writing.
  nn::NamedTensorList clip_state;
  {
    NoGradGuard no_grad;
    for (auto& [name, t] : model.clip.state_dict("clip.")) clip_state.emplace_back(name, t.clone());
  }
  return model.load_pretrained(clip_state);
}

namespace {
nlohmann::json clip_to_json(const models::ClipConfig& c) {
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

int64_t need(const nlohmann::json& j, const char* key, const char* where) {
  XCLIP_CHECK(j.is_object() && j.contains(key) && j.at(key).is_number_integer(), "model config: ", where, ".", key,
              " is missing or not an integer");
  return j.at(key).get<int64_t>();
}
}  // namespace

nlohmann::json model_config_to_json(const models::ClipConfig& clip, const models::XClipConfig& xclip) {
  return {{"clip", clip_to_json(clip)}, {"xclip", xclip.to_json()}};
}

models::ClipConfig clip_config_from_json(const nlohmann::json& j) {
  XCLIP_CHECK(j.is_object() && j.contains("vision") && j.contains("text"),
              "model config: 'clip' needs 'vision' and 'text'");
  models::ClipConfig c;
  c.embed_dim = need(j, "embed_dim", "clip");
  const auto& v = j.at("vision");
  c.vision = {need(v, "width", "vision"), need(v, "layers", "vision"), need(v, "heads", "vision"),
              need(v, "patch", "vision"), need(v, "grid", "vision"),   need(v, "resolution", "vision")};
  const auto& t = j.at("text");
  c.text = {need(t, "width", "text"), need(t, "layers", "text"), need(t, "heads", "text"),
            need(t, "context_length", "text"), need(t, "vocab_size", "text")};
  return c;
}

void save_model_config(const std::filesystem::path& path, const models::ClipConfig& clip,
                       const models::XClipConfig& xclip) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << model_config_to_json(clip, xclip).dump(1) << "\n";
    XCLIP_CHECK(out.good(), tmp.string(), ": cannot write the model config");
  }
  std::filesystem::rename(tmp, path);
}

std::filesystem::path model_config_beside(const std::filesystem::path& weights) {
  return weights.parent_path() / "model_config.json";
}

}  // namespace xclip::train
