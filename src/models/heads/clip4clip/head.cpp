// The CLIP4Clip head (clip4clip_head.hpp): mean pooling of the (temporally encoded) frames, or
// EA-CLIP4Clip's blocks (excitation_aggregation.cpp), and the video-sentence similarity.
#include "xclip/models/heads/clip4clip_head.hpp"

#include "xclip/autograd.hpp"
#include "xclip/core/profile.hpp"
#include "xclip/ops.hpp"

namespace xclip::models {

namespace {
void check_preset(const HeadConfig& c) {
  const HeadConfig preset = HeadConfig::clip4clip(c.sim_header);
  XCLIP_CHECK(c.contrasts == preset.contrasts && c.learnable_aosm == preset.learnable_aosm,
              "config: the clip4clip head has the video-sentence contrast only and no learnable matrices; "
              "contrasts, aggregation, temperature and learnable_aosm are options of the xclip head");
}
}  // namespace

Clip4ClipHead::Clip4ClipHead(const HeadConfig& config, const HeadDims& dims, DType dtype) : SimilarityHead(config) {
  check_preset(config_);
  // The EA blocks first, as the original registers se_block before the temporal module.
  if (config_.head == "ea_clip4clip")
    ea_ = &register_module("", std::make_shared<ExcitationAggregation>(config_, dims.embed_dim, dtype));
  register_temporal_encoder(dims, dtype);
  if (config_.sim_header == "seqLSTM") {
    // The original builds frame_position_embeddings for seqLSTM too and never reads it; held so
    // that its checkpoints load and ours carry the same names.
    lstm_positions_ = &register_module("frame_position_embeddings", std::make_shared<nn::WeightModule>(Tensor::zeros(
                                                                          Shape{dims.position_rows, dims.embed_dim}, dtype)));
    lstm_ = &register_module("", std::make_shared<FrameLstm>(dims.embed_dim, dtype));
  }
}

Tensor Clip4ClipHead::video_feature(const VideoFeatures& videos, nn::NamedTensorList* steps) const {
  if (!ea_) {
    Tensor t = temporal(videos);
    if (steps) steps->emplace_back("visual_output_temporal", t);
    return mean_video_feature(t, videos.video_mask);
  }
  const Tensor x = ea_->before_temporal(videos.frames, videos.video_mask);
  const Tensor t = lstm_ ? lstm_->forward(x, videos.video_mask) : temporal({x, videos.video_mask});
  if (steps) steps->emplace_back("visual_output_temporal", t);
  return ea_->video_feature(t, videos.video_mask, steps);
}

HeadOutput Clip4ClipHead::forward(const TextFeatures& texts, const VideoFeatures& videos,
                                  const Tensor& logit_scale) const {
  profile::Scope region("similarity");
  nn::NamedTensorList steps;
  const Tensor sentence = normalized_sentence(texts.sentence);
  const Tensor video = video_feature(videos, &steps);
  HeadOutput out;
  out.logits = video_sentence_logits(logit_scale_factor(logit_scale), sentence, video);
  out.intermediates = {{"sentence_output", sentence}};
  out.intermediates.insert(out.intermediates.end(), steps.begin(), steps.end());
  out.intermediates.emplace_back("video_output", video);
  out.intermediates.emplace_back("logits.video_sentence", out.logits);
  return out;
}

Tensor Clip4ClipHead::similarity_matrix(const TextFeatures& texts, const VideoFeatures& videos,
                                        const Tensor& logit_scale) const {
  NoGradGuard no_grad;
  const int64_t block = config_.batch_size_val, V = videos.frames.dim(0);
  std::vector<Tensor> video_blocks;
  for (int64_t v = 0; v < V; v += block) {
    const int64_t n = std::min(block, V - v);
    video_blocks.push_back(
        video_feature({ops::narrow(videos.frames, 0, v, n), ops::narrow(videos.video_mask, 0, v, n)}));
  }
  const Tensor video = video_blocks.size() == 1 ? video_blocks[0] : ops::concat(video_blocks, 0);
  return video_sentence_logits(logit_scale_factor(logit_scale), normalized_sentence(texts.sentence), video);
}

void Clip4ClipHead::reset_parameters(uint64_t seed) {
  reset_temporal_encoder(seed);
  if (ea_) {
    Generator gen(seed ^ 0xEAC11D4C11Dull);  // a stream of its own: the temporal encoder's stays as before
    ea_->reset_parameters(gen);
    if (lstm_) {
      NoGradGuard no_grad;
      lstm_positions_->weight.copy_(Tensor::randn(lstm_positions_->weight.shape(), gen, DType::f64, 0.0, 0.02));
      lstm_->reset_parameters(gen);
    }
  }
}

ParamRole Clip4ClipHead::param_role(const std::string& name) const {
  XCLIP_CHECK(has_parameter(name), config_.head, " head: no parameter named '", name, "'");
  const bool after_gather = ea_ && ea_->has_parameter(name) && ea_->after_gather(name);
  return ParamRole{false, !is_no_decay_parameter(name), false, after_gather};
}

}  // namespace xclip::models
