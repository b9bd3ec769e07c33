// Building a RetrievalModel (build.hpp): from scratch, from weights in memory, from checkpoints.
#include "xclip/models/build.hpp"

#include <nlohmann/json.hpp>

#include "xclip/autograd.hpp"
#include "xclip/io/checkpoint.hpp"
#include "xclip/io/file_bytes.hpp"
#include "xclip/io/json_file.hpp"

namespace xclip::models {

namespace fs = std::filesystem;

ClipConfig scratch_clip_config(const ScratchClipOptions& o) {
  auto positive = [](int64_t v, const char* name) { XCLIP_CHECK(v > 0, "--", name, " must be positive, got ", v); };
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
  ClipConfig c;
  c.embed_dim = o.embed_dim;
  const int64_t grid = o.image_resolution / o.patch;
  c.vision = {o.vision_width, o.vision_layers, o.vision_width / o.head_width, o.patch, grid, o.image_resolution};
  c.text = {o.text_width, o.text_layers, o.text_width / o.head_width, o.context_length, o.vocab_size};
  return c;
}

namespace {
// What convert_weights(clip) does to the original's CLIP (a no-op on fp16 checkpoints).
void apply_precision(RetrievalModel& model) {
  if (model.clip.precision() == ClipPrecision::official_fp16) model.clip.round_official_fp16_parameters();
}
}  // namespace

LoadReport init_from_scratch(RetrievalModel& model, uint64_t seed) {
  Generator gen(seed);
  model.clip.init_random(gen);
  // from_pretrained with the CLIP state alone. Cloned so that the copy does not read what it is
  // writing.
  nn::NamedTensorList clip_state;
  {
    NoGradGuard no_grad;
    for (auto& [name, t] : model.clip.state_dict("clip.")) clip_state.emplace_back(name, t.clone());
  }
  LoadReport report = model.load_pretrained(clip_state);
  apply_precision(model);
  return report;
}

std::unique_ptr<RetrievalModel> from_scratch(const ClipConfig& clip, HeadConfig head, uint64_t seed,
                                             ClipPrecision precision, DType dtype) {
  if ((head.temporal_encoder() || head.cross_encoder()) && head.temporal_heads == 0)
    head.temporal_heads = int(clip.text.heads);
  auto model = std::make_unique<RetrievalModel>(head, clip, precision, dtype);
  init_from_scratch(*model, seed);
  return model;
}

std::unique_ptr<RetrievalModel> from_weights(const nn::NamedTensorList& weights, const HeadConfig& head,
                                             ClipPrecision precision, int64_t head_width, LoadReport* report) {
  auto model = std::make_unique<RetrievalModel>(head, infer_xclip_clip_config(weights, head_width), precision);
  const LoadReport r = model->load_pretrained(weights);
  if (report) *report = r;
  apply_precision(*model);
  return model;
}

namespace {
io::NamedTensors load_weights(const fs::path& path, const char* what, const CheckpointSources& s) {
  XCLIP_CHECK(fs::is_regular_file(path), what, " ", path.string(), ": no such file");
  io::CheckpointInfo info;
  io::NamedTensors t = io::load_any_checkpoint(path.string(), &info);
  if (s.log) s.log(format(what, " ", path.string(), " (", io::checkpoint_kind_name(info.kind), ", ", t.size(), " tensors)"));
  return t;
}

}  // namespace

std::unique_ptr<RetrievalModel> from_checkpoint(const CheckpointSources& s) {
  XCLIP_CHECK(!s.clip.empty() || !s.model.empty(), "no weights: give a CLIP checkpoint and/or a model checkpoint");
  std::optional<io::NamedTensors> clip_weights, model_weights;
  if (!s.clip.empty()) clip_weights = load_weights(s.clip, "CLIP checkpoint", s);
  if (!s.model.empty()) model_weights = load_weights(s.model, "model checkpoint", s);
  // Sizes: model_config.json beside the model weights (any head width), else the shapes.
  std::optional<HeadConfig> saved;
  ClipConfig clip;
  const fs::path beside = s.model.empty() ? fs::path() : model_config_beside(s.model);
  if (!beside.empty() && fs::exists(beside)) {
    const nlohmann::json j = io::read_json_file(beside, "model config", 4);
    try {
      clip = clip_config_from_json(j.at("clip"));
      saved = HeadConfig::from_json(j.at("xclip"));
    } catch (const std::exception& e) {
      throw Error(format("model config ", beside.string(), ": ", e.what()));
    }
  } else {
    const io::NamedTensors& w = model_weights ? *model_weights : *clip_weights;
    try {
      clip = infer_xclip_clip_config(w.list(), s.head_width);
    } catch (const Error& e) {
      throw Error(format(w.source(), ": ", e.what()));
    }
  }
  const HeadConfig head = s.head_config ? s.head_config(saved) : saved.value_or(HeadConfig{});
  auto model = std::make_unique<RetrievalModel>(head, clip, s.precision);
  for (const auto* w : {clip_weights ? &*clip_weights : nullptr, model_weights ? &*model_weights : nullptr}) {
    if (!w) continue;
    const LoadReport r = model->load_pretrained(w->list());
    if (s.log) s.log(r.str());
  }
  apply_precision(*model);
  return model;
}

nlohmann::json model_config_to_json(const ClipConfig& clip, const HeadConfig& head) {
  return {{"clip", clip_config_to_json(clip)}, {"xclip", head.to_json()}};
}

void save_model_config(const fs::path& path, const ClipConfig& clip, const HeadConfig& head) {
  io::write_text_file_atomically(path, model_config_to_json(clip, head).dump(1) + "\n");
}

fs::path model_config_beside(const fs::path& weights) { return weights.parent_path() / "model_config.json"; }

}  // namespace xclip::models
