#include "xclip/models/model.hpp"

#include <map>
#include <set>
#include <sstream>

#include "xclip/io/safetensors.hpp"
#include "xclip/ops.hpp"

namespace xclip::models {

namespace {

HeadDims head_dims(const HeadConfig& config, const ClipConfig& clip) {
  XCLIP_CHECK(!config.temporal_encoder() || clip.text.width == clip.embed_dim,
              "model: the temporal encoder (seqTransf) has the text width ", clip.text.width,
              " but adds to frame features of width ", clip.embed_dim, "; the two must be equal");
  return {clip.embed_dim, clip.text.context_length};
}

bool has_prefixed_clip(const nn::NamedTensorList& state) {
  for (const auto& [name, t] : state)
    if (name.starts_with("clip.")) return true;
  return false;
}

// from_pretrained's state_dict: every CLIP name under clip., plus what the head takes from CLIP's
// tensors when the state does not carry the head's own.
nn::NamedTensorList pretrained_state(const nn::NamedTensorList& state, const SimilarityHead& head, bool* copied) {
  const bool prefixed = has_prefixed_clip(state);
  nn::NamedTensorList out;
  for (const auto& [name, t] : state) out.emplace_back(prefixed ? name : "clip." + name, t);
  const nn::NamedTensorList copies = head.copies_from_clip(out);
  *copied = !copies.empty();
  out.insert(out.end(), copies.begin(), copies.end());
  return out;
}

}  // namespace

ClipConfig infer_xclip_clip_config(const nn::NamedTensorList& state, int64_t head_width) {
  return infer_clip_config(state, has_prefixed_clip(state) ? "clip." : "", head_width);
}

// Registration order = the official state_dict: the head's own parameters (the matrices) come
// first as PyTorch lists a module's own parameters first, then clip.*, then the head's children
// (the temporal encoder).
RetrievalModel::RetrievalModel(const HeadConfig& config, const ClipConfig& clip_config, ClipPrecision precision,
                               DType dtype)
    : clip(register_module("clip", std::make_shared<Clip>(clip_config, precision, dtype))),
      head(register_module("", std::shared_ptr<SimilarityHead>(make_head(config, head_dims(config, clip_config), dtype)))) {
  head.set_bf16_autocast(precision == ClipPrecision::bf16_autocast);
  for (const auto& [name, p] : named_parameters()) {
    if (!name.starts_with("clip.")) {
      roles_[name] = head.param_role(name);
      continue;
    }
    // clip.logit_scale scales the gathered similarities: it is after the gather; the rest of CLIP
    // encodes the local batch before it.
    const std::string clip_name = name.substr(5);
    roles_[name] = ParamRole{true, !is_no_decay_parameter(name), is_official_fp16_parameter(clip_name),
                             clip_name == "logit_scale"};
  }
  XCLIP_CHECK(config.max_words <= clip_config.text.context_length, "model: max_words ", config.max_words,
              " exceeds CLIP's context length ", clip_config.text.context_length);
}

TextFeatures RetrievalModel::encode_text(const Tensor& input_ids, const Tensor& attention_mask) const {
  XCLIP_CHECK(input_ids.ndim() == 2 && input_ids.dim(1) == config().max_words, "model: input_ids must be [B, ",
              config().max_words, "] (max_words), got ", input_ids.str());
  XCLIP_CHECK(attention_mask.shape() == input_ids.shape(), "model: attention_mask ", attention_mask.str(),
              " does not match input_ids ", input_ids.str());
  // Inputs may come from the host (the loader, a bundle): they follow the model's parameters.
  const Device dev = clip.logit_scale.device();
  TextEncoding t = clip.encode_text(input_ids.to(dev));
  return {t.sentence, t.words, attention_mask.to(dev)};
}

VideoFeatures RetrievalModel::encode_video(const Tensor& video_in, const Tensor& video_mask) const {
  XCLIP_CHECK(video_in.ndim() == 5 && video_in.dim(1) == config().max_frames && video_in.dim(2) == 3,
              "model: video must be [B, ", config().max_frames, " (max_frames), 3, H, W], got ", video_in.str());
  XCLIP_CHECK(video_mask.ndim() == 2 && video_mask.dim(0) == video_in.dim(0) && video_mask.dim(1) == video_in.dim(1),
              "model: video_mask ", video_mask.str(), " does not match video ", video_in.str());
  const DType model_dtype = clip.visual.proj.dtype();
  const Device dev = clip.visual.proj.device();
  const Tensor video = video_in.to(dev).to(model_dtype);
  const int64_t B = video.dim(0), F = video.dim(1);
  Tensor frames = clip.encode_image(ops::reshape(video, Shape{B * F, 3, video.dim(3), video.dim(4)}));
  return {ops::reshape(frames, Shape{B, F, frames.dim(1)}), video_mask.to(dev)};
}

// B pairs (text i with video i); L = max_words, N = max_frames, D = embed_dim.
ModelOutput RetrievalModel::forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& video,
                                    const Tensor& video_mask) const {
  ModelOutput out;
  out.text = encode_text(input_ids, attention_mask);           // sentence [B, D], words [B, L, D]
  out.video = encode_video(video, video_mask);                 // frames [B, N, D]
  out.head = head.forward(out.text, out.video, logit_scale());  // logits [B, B]
  out.loss = symmetric_cross_entropy(out.head.logits);         // []
  if (out.head.extra_loss.defined()) out.loss = ops::add(out.loss, out.head.extra_loss);
  return out;
}

Tensor RetrievalModel::similarity_for_eval(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& video,
                                  const Tensor& video_mask) const {
  NoGradGuard no_grad;
  const int64_t block = config().batch_size_val;
  std::vector<Tensor> sentences, words, frames;
  for (int64_t s = 0; s < input_ids.dim(0); s += block) {
    const int64_t n = std::min(block, input_ids.dim(0) - s);
    TextFeatures t = encode_text(ops::narrow(input_ids, 0, s, n), ops::narrow(attention_mask, 0, s, n));
    sentences.push_back(t.sentence);
    words.push_back(t.words);
  }
  for (int64_t s = 0; s < video.dim(0); s += block) {
    const int64_t n = std::min(block, video.dim(0) - s);
    frames.push_back(encode_video(ops::narrow(video, 0, s, n), ops::narrow(video_mask, 0, s, n)).frames);
  }
  const Device dev = clip.logit_scale.device();
  TextFeatures texts{ops::concat(sentences, 0), ops::concat(words, 0), attention_mask.to(dev)};
  VideoFeatures videos{ops::concat(frames, 0), video_mask.to(dev)};
  return head.similarity_matrix(texts, videos, logit_scale());
}

LoadReport RetrievalModel::load_pretrained(const nn::NamedTensorList& state, bool strict) {
  LoadReport report;
  nn::NamedTensorList full = pretrained_state(state, head, &report.head_from_clip);
  std::erase_if(full, [&](const auto& named) { return head.ignores_state_name(named.first); });
  // A scalar parameter (clip.logit_scale, shape []) stored as [1] (numpy writers promote 0-d
  // arrays) is the same value: accept it.
  std::map<std::string, Shape> shapes;
  for (const auto& [name, p] : named_parameters()) shapes[name] = p.shape();
  for (auto& [name, t] : full) {
    auto it = shapes.find(name);
    if (it != shapes.end() && it->second.ndim() == 0 && t.numel() == 1 && t.ndim() != 0) t = t.view(Shape{});
  }
  // Parameters the state does not provide keep their initial values: the identity matrices, and
  // the original's init_weights for a temporal encoder that neither the state nor CLIP fills.
  head.reset_parameters();
  std::set<std::string> given;
  for (const auto& [name, t] : full) given.insert(name);
  for (const auto& [name, p] : named_parameters())
    if (!given.count(name)) report.missing.push_back(name);
  report.unexpected = load_state_dict(full, false);
  XCLIP_CHECK(!strict || (report.missing.empty() && report.unexpected.empty()), "model: strict load failed: ",
              report.str());
  return report;
}

ParamRole RetrievalModel::param_role(const std::string& name) const {
  const auto it = roles_.find(name);
  XCLIP_CHECK(it != roles_.end(), "model: no parameter named '", name, "'");
  return it->second;
}

void RetrievalModel::save(const std::string& path) const {
  io::NamedTensors out(path);
  for (const auto& [name, t] : state_dict()) out.add(name, t);
  io::save_safetensors(path, out);
}

std::string LoadReport::str() const {
  std::ostringstream os;
  os << (head_from_clip ? "head initialised from CLIP's tensors (the temporal encoder from the text tower); " : "") << missing.size()
     << " parameter(s) not initialised from the weights";
  for (size_t i = 0; i < missing.size() && i < 8; ++i) os << (i ? ", " : ": ") << missing[i];
  if (missing.size() > 8) os << ", ...";
  os << "; " << unexpected.size() << " tensor(s) not used";
  for (size_t i = 0; i < unexpected.size() && i < 8; ++i) os << (i ? ", " : ": ") << unexpected[i];
  if (unexpected.size() > 8) os << ", ...";
  return os.str();
}

}  // namespace xclip::models
