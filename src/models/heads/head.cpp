// What every head family shares: the temporal encoder's registration, the feature normalisation,
// the video-sentence similarity and the loss. The families: src/models/heads/<family>/.
#include "xclip/models/heads/head.hpp"

#include "xclip/autograd.hpp"
#include "xclip/core/profile.hpp"
#include "xclip/ops.hpp"

namespace xclip::models {

const Tensor* HeadOutput::find(const std::string& name) const {
  for (const auto& [n, t] : intermediates)
    if (n == name) return &t;
  return nullptr;
}

// no_decay = ['bias', 'LayerNorm.bias', 'LayerNorm.weight']; any(nd in n for nd in no_decay).
// CLIP's and the temporal encoder's LayerNorms are named ln_*, so only "bias" ever matches them.
bool is_no_decay_parameter(const std::string& name) {
  for (const char* nd : {"bias", "LayerNorm.bias", "LayerNorm.weight"})
    if (name.find(nd) != std::string::npos) return true;
  return false;
}

int temporal_heads(const HeadConfig& config, int64_t width) {
  if (config.temporal_heads > 0) return config.temporal_heads;
  XCLIP_CHECK(width >= 64, "temporal encoder width ", width,
              " is below 64, so width / 64 heads is 0: set temporal_heads in the config");
  return int(width / 64);
}

void SimilarityHead::register_temporal_encoder(const HeadDims& dims, DType dtype) {
  if (!config_.temporal_encoder()) return;
  XCLIP_CHECK(dims.position_rows >= config_.max_frames, "head: frame_position_embeddings has ", dims.position_rows,
              " rows, fewer than max_frames ", config_.max_frames);
  temporal_ = &register_module("", std::make_shared<TemporalEncoder>(dims.embed_dim, dims.position_rows,
                                                                     config_.cross_num_hidden_layers,
                                                                     temporal_heads(config_, dims.embed_dim), dtype));
}

void SimilarityHead::reset_temporal_encoder(uint64_t seed) {
  if (!temporal_) return;
  Generator gen(seed);
  temporal_->reset_parameters(gen);
}

Tensor SimilarityHead::temporal(const VideoFeatures& videos) const {
  if (!temporal_) return videos.frames;
  ops::AutocastBf16Guard bf16(bf16_autocast_ || ops::autocast_bf16_enabled());
  return temporal_->forward(videos.frames, videos.video_mask);
}

nn::NamedTensorList SimilarityHead::copies_from_clip(const nn::NamedTensorList& state) const {
  return temporal_ ? temporal_->copies_from_clip(state) : nn::NamedTensorList{};
}

Tensor logit_scale_factor(const Tensor& logit_scale) {
  XCLIP_CHECK(logit_scale.numel() == 1, "head: logit_scale must have one element, got ", logit_scale.str());
  return ops::exp(ops::reshape(logit_scale, Shape{}));
}

Tensor sentence_rows(const Tensor& sentence) {
  if (sentence.ndim() == 3) {
    XCLIP_CHECK(sentence.dim(1) == 1, "head: sentence must be [T, D] or [T, 1, D], got ", sentence.str());
    return ops::squeeze(sentence, 1);
  }
  XCLIP_CHECK(sentence.ndim() == 2, "head: sentence must be [T, D], got ", sentence.str());
  return sentence;
}

Tensor normalized_sentence(const Tensor& sentence) { return ops::l2_normalize(sentence_rows(sentence), -1); }

Tensor mean_video_feature(const Tensor& temporal, const Tensor& video_mask) {
  XCLIP_CHECK(temporal.ndim() == 3 && video_mask.ndim() == 2 && video_mask.dim(0) == temporal.dim(0) &&
                  video_mask.dim(1) == temporal.dim(1),
              "head: video_mask ", video_mask.str(), " does not match the frame features ", temporal.str());
  return ops::l2_normalize(ops::masked_mean(ops::l2_normalize(temporal, -1), video_mask, 1), -1);
}

Tensor video_sentence_logits(const Tensor& lambda, const Tensor& sentence, const Tensor& video,
                             const Tensor& global_mat_weight) {
  profile::Scope term("video_sentence");
  Tensor t = global_mat_weight.defined() ? ops::matmul(sentence, global_mat_weight) : sentence;
  return ops::mul(lambda, ops::matmul(t, video, false, true));  // [T, V]
}

Tensor symmetric_cross_entropy(const Tensor& logits) {
  XCLIP_CHECK(logits.ndim() == 2 && logits.dim(0) == logits.dim(1),
              "CrossEn: logits must be square [B, B] (text i pairs with video i), got ", logits.str());
  profile::Scope region("loss");
  Tensor target = Tensor::arange(logits.dim(0), DType::i64, logits.device());
  Tensor t2v = ops::cross_entropy(logits, target);
  Tensor v2t = ops::cross_entropy(ops::transpose(logits, 0, 1), target);
  return ops::scale(ops::add(t2v, v2t), 0.5);
}

}  // namespace xclip::models
