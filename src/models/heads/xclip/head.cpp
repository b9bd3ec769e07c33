// The X-CLIP head as a Module (xclip_head.hpp): its parameters, their roles and initialisation,
// the training forward and the block-wise evaluation. The contrasts: similarity.cpp.
#include <cmath>

#include "xclip/autograd.hpp"
#include "xclip/models/heads/xclip_head.hpp"
#include "xclip/ops.hpp"

namespace xclip::models {

XClipHead::XClipHead(const HeadConfig& config, const HeadDims& dims, DType dtype) : SimilarityHead(config) {
  // Registration order = the official state_dict: the matrices (own parameters), then the encoder.
  if (config_.learnable_aosm) {
    AosmMatrices init = AosmMatrices::identity(dims.embed_dim, config_.max_words, config_.max_frames, dtype);
    std::vector<Tensor*> slots = aosm_.all(), values = init.all();
    for (size_t i = 0; i < slots.size(); ++i) *slots[i] = register_parameter(AosmMatrices::names()[i], *values[i]);
  }
  register_temporal_encoder(dims, dtype);
}

VideoSide XClipHead::video_side(const VideoFeatures& videos, Tensor* temporal_out) const {
  Tensor t = temporal(videos);
  if (temporal_out) *temporal_out = t;
  return make_video_side(config_, videos.frames, t, videos.video_mask);
}

SimilarityTerms XClipHead::terms(const TextFeatures& texts, const VideoFeatures& videos,
                                 const Tensor& logit_scale) const {
  return similarity_terms(config_, aosm_, logit_scale, make_text_side(texts), video_side(videos));
}

HeadOutput XClipHead::forward(const TextFeatures& texts, const VideoFeatures& videos, const Tensor& logit_scale) const {
  Tensor temporal_out;
  const TextSide text = make_text_side(texts);
  const VideoSide video = video_side(videos, &temporal_out);
  const SimilarityTerms t = similarity_terms(config_, aosm_, logit_scale, text, video);
  HeadOutput out;
  out.logits = t.logits;
  out.intermediates = {{"sentence_output", text.sentence},  {"word_features", text.words},
                       {"visual_output_temporal", temporal_out}, {"video_output", video.video},
                       {"frame_features", video.frames}};
  for (const auto& [name, term] : {std::pair<const char*, Tensor>{"video_sentence", t.video_sentence},
                                   {"video_word", t.video_word},
                                   {"sentence_frame", t.sentence_frame},
                                   {"frame_word", t.frame_word}})
    if (term.defined()) out.intermediates.emplace_back(std::string("logits.") + name, term);
  return out;
}

namespace {

TextSide narrow_text(const TextSide& t, int64_t start, int64_t n) {
  return {ops::narrow(t.sentence, 0, start, n), ops::narrow(t.words, 0, start, n), ops::narrow(t.mask, 0, start, n)};
}

VideoFeatures narrow_videos(const VideoFeatures& v, int64_t start, int64_t n) {
  return {ops::narrow(v.frames, 0, start, n), ops::narrow(v.video_mask, 0, start, n)};
}

}  // namespace

Tensor XClipHead::similarity_matrix(const TextFeatures& texts, const VideoFeatures& videos,
                                    const Tensor& logit_scale) const {
  NoGradGuard no_grad;
  const int64_t block = config_.batch_size_val;
  const TextSide text = make_text_side(texts);
  const int64_t T = text.sentence.dim(0), V = videos.frames.dim(0);
  std::vector<VideoSide> video_blocks;
  for (int64_t v = 0; v < V; v += block) video_blocks.push_back(video_side(narrow_videos(videos, v, std::min(block, V - v))));
  std::vector<Tensor> rows;
  for (int64_t t = 0; t < T; t += block) {
    const TextSide text_block = narrow_text(text, t, std::min(block, T - t));
    std::vector<Tensor> cols;
    for (const VideoSide& video_block : video_blocks)
      cols.push_back(similarity_terms(config_, aosm_, logit_scale, text_block, video_block).logits);
    rows.push_back(cols.size() == 1 ? cols[0] : ops::concat(cols, 1));
  }
  return rows.size() == 1 ? rows[0] : ops::concat(rows, 0);
}

void XClipHead::reset_parameters(uint64_t seed) {
  NoGradGuard no_grad;
  if (aosm_.defined())
    for (Tensor* m : aosm_.all()) m->copy_(Tensor::eye(m->dim(0), m->dtype()));
  reset_temporal_encoder(seed);
}

ParamRole XClipHead::param_role(const std::string& name) const {
  XCLIP_CHECK(has_parameter(name), "xclip head: no parameter named '", name,
              "' (the eight similarity matrices, frame_position_embeddings.*, transformerClip.*)");
  // The matrices are used only after the all-gather: each rank computes the full [B, B] loss from
  // the gathered features, so their local gradient is already the full one.
  const bool matrix = !TemporalEncoder::owns(name);
  return ParamRole{false, !is_no_decay_parameter(name), false, matrix};
}

}  // namespace xclip::models
