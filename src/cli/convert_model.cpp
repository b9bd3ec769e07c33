// The model behind a converted checkpoint (convert_model.hpp): its config, and the check of every
// tensor against the parameters of that model, built for real (the shapes then come from the same
// code that loads the weights for training and evaluation, not from a second list of names).
#include "convert_model.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "xclip/core/error.hpp"
#include "xclip/io/json_file.hpp"
#include "xclip/models/build.hpp"
#include "xclip/models/heads/xclip_head.hpp"
#include "xclip/models/model.hpp"

namespace xclip::cli {
namespace {

const std::string kTemporalBlocks = "transformerClip.resblocks.";
const std::string kFramePositions = "frame_position_embeddings.weight";

bool is_matrix(const std::string& name) {
  const auto& names = models::AosmMatrices::names();
  return std::any_of(names.begin(), names.end(), [&](const char* m) { return name == m; });
}

// dim(0) of the first of `names` present (the matrices of one axis are all [n, n]), else nullopt.
std::optional<int64_t> first_rows(const io::NamedTensors& tensors, std::initializer_list<const char*> names) {
  for (const char* name : names)
    if (const Tensor* t = tensors.find(name); t && t->ndim() >= 1) return t->dim(0);
  return std::nullopt;
}

// 1 + the largest N of transformerClip.resblocks.N.*, 0 without any.
int temporal_depth(const io::NamedTensors& tensors) {
  int depth = 0;
  for (const auto& [name, t] : tensors) {
    if (!name.starts_with(kTemporalBlocks)) continue;
    const std::string rest = name.substr(kTemporalBlocks.size());
    const size_t digits = rest.find_first_not_of("0123456789");
    if (digits == 0 || digits == std::string::npos) continue;  // not a block: left to the check
    depth = std::max(depth, 1 + std::stoi(rest.substr(0, digits)));
  }
  return depth;
}

std::string list_some(const std::vector<std::string>& items) {
  std::string s;
  for (size_t i = 0; i < items.size() && i < 8; ++i) s += (i ? ", " : "") + items[i];
  if (items.size() > 8) s += format(", ... (", items.size(), " in all)");
  return s;
}

// The parameters (names in state_dict order, with their shapes) of the model `m` describes.
nn::NamedTensorList model_parameters(const DescribedModel& m) {
  if (!m.head) return models::Clip(m.clip).state_dict(m.clip_prefix);
  return models::RetrievalModel(*m.head, m.clip).state_dict();
}

}  // namespace

bool has_head_tensors(const io::NamedTensors& tensors) {
  for (const auto& [name, t] : tensors)
    if (name == kFramePositions || name.starts_with(kTemporalBlocks) || is_matrix(name)) return true;
  return false;
}

models::HeadConfig head_config_from_shapes(const io::NamedTensors& tensors, const models::ClipConfig& clip) {
  models::HeadConfig h;  // the official options, then what the weights show
  h.learnable_aosm = std::any_of(tensors.begin(), tensors.end(), [](const auto& e) { return is_matrix(e.first); });
  // Without the matrices the two sizes leave no trace; any value the model accepts will do.
  const int64_t context = clip.text.context_length;
  h.max_words = first_rows(tensors, {"word_logit_weight", "word_mat_weight", "word_mat_weight2"})
                    .value_or(std::min(h.max_words, context));
  h.max_frames = first_rows(tensors, {"frame_logit_weight", "frame_mat_weight", "frame_mat_weight2"})
                     .value_or(std::min(h.max_frames, context));
  const int depth = temporal_depth(tensors);
  h.sim_header = depth > 0 || tensors.contains(kFramePositions) ? "seqTransf" : "meanP";
  h.cross_num_hidden_layers = depth;
  h.temporal_heads = int(clip.text.heads);  // heads change no shape; the text tower's always divide its width
  return h;
}

DescribedModel describe_model(const io::NamedTensors& tensors, const std::string& checkpoint,
                              const std::string& clip_prefix, int64_t head_width) {
  DescribedModel m;
  m.clip_prefix = clip_prefix;
  const bool head = has_head_tensors(tensors);
  const std::filesystem::path beside = models::model_config_beside(checkpoint);
  if (head && std::filesystem::exists(beside)) {
    const nlohmann::json j = io::read_json_file(beside, "model config");
    try {
      m.clip = models::clip_config_from_json(j.at("clip"));
      m.head = models::HeadConfig::from_json(j.at("xclip"));
    } catch (const std::exception& e) {
      throw Error(format("model config ", beside.string(), ": ", e.what()));
    }
    m.config_source = beside.string();
    return m;
  }
  try {
    m.clip = models::infer_clip_config(tensors.list(), clip_prefix, head_width);
  } catch (const Error& e) {
    const std::string what = checkpoint + ": " + e.what();
    if (what.find("heads of width") == std::string::npos) throw Error(what);
    throw Error(what + " (heads are not stored in the weights: pass --head_width for narrower heads)");
  }
  if (head) m.head = head_config_from_shapes(tensors, m.clip);
  return m;
}

std::string DescribedModel::str() const {
  if (!head) return clip_prefix.empty() ? "CLIP" : "CLIP under '" + clip_prefix + "'";
  const models::HeadConfig& h = *head;
  std::string s = format("X-CLIP, head ", h.head, ": ", h.sim_header);
  if (h.temporal_encoder()) s += format(" (", h.cross_num_hidden_layers, " temporal layers)");
  s += h.learnable_aosm ? format(", AOSM matrices for ", h.max_words, " words x ", h.max_frames, " frames")
                        : std::string(", no AOSM matrices");
  return s;
}

io::NamedTensors check_against_model(const io::NamedTensors& tensors, const DescribedModel& model,
                                     const std::string& source) {
  nn::NamedTensorList params;
  try {
    params = model_parameters(model);
  } catch (const Error& e) {  // e.g. matrices larger than the frame positions the model has
    throw Error(format(source, ": the tensors describe no model we can build (", model.str(), "): ", e.what()));
  }
  io::NamedTensors out(source);
  out.metadata = tensors.metadata;
  std::vector<std::string> missing, wrong, unknown;
  std::set<std::string> known;
  for (const auto& [name, p] : params) {
    known.insert(name);
    const Tensor* t = tensors.find(name);
    if (!t) {
      missing.push_back(name);
    } else if (!is_floating(t->dtype())) {
      wrong.push_back(format(name, " (", dtype_name(t->dtype()), "; the parameter is floating)"));
    } else if (t->shape() == p.shape()) {
      out.add(name, *t);
    } else if (p.ndim() == 0 && t->numel() == 1) {
      out.add(name, t->view(Shape{}));  // the same value; torch's load_state_dict wants the shape []
    } else {
      wrong.push_back(format(name, " (", t->shape().str(), "; the model's is ", p.shape().str(), ")"));
    }
  }
  for (const auto& [name, t] : tensors)
    if (!known.count(name)) unknown.push_back(name);
  if (missing.empty() && wrong.empty() && unknown.empty()) return out;
  std::string why;
  if (!wrong.empty()) why += format("; wrongly shaped or typed: ", list_some(wrong));
  if (!unknown.empty()) why += format("; not a parameter of the model: ", list_some(unknown));
  if (!missing.empty()) why += format("; missing: ", list_some(missing));
  const std::string config = model.config_source.empty() ? "config read off the shapes"
                                                          : "config from " + model.config_source;
  throw Error(format(source, ": the tensors do not match the model they describe (", model.str(), "; ", config, ")",
                     why, "; nothing written"));
}

}  // namespace xclip::cli
