// The CLIP4Clip head (clip4clip_head.hpp): mean pooling of the (temporally encoded) frames, or
// EA-CLIP4Clip's blocks (excitation_aggregation.cpp), and the video-sentence similarity; or the
// tight type's cross encoder over every pair (cross_encoder.cpp).
#include "xclip/models/heads/clip4clip_head.hpp"

#include <algorithm>
#include <vector>

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
  if (config_.cross_encoder()) {
    cross_dropout_ = config_.option_as<double>("hidden_dropout_prob");
    XCLIP_CHECK(cross_dropout_ >= 0 && cross_dropout_ < 1, "config: hidden_dropout_prob must be in [0, 1), got ",
                cross_dropout_);
    const int64_t D = dims.embed_dim;
    cross_ = &register_module("", std::make_shared<CrossEncoder>(D, dims.position_rows, config_.cross_num_hidden_layers,
                                                                  temporal_heads(config_, D), dtype));
  }
  if (config_.sim_header == "seqLSTM") {
    // The original builds frame_position_embeddings for seqLSTM too and never reads it; held so
    // that its checkpoints load and ours carry the same names.
    lstm_positions_ = &register_module("frame_position_embeddings", std::make_shared<nn::WeightModule>(Tensor::zeros(
                                                                          Shape{dims.position_rows, dims.embed_dim}, dtype)));
    lstm_ = &register_module("", std::make_shared<FrameLstm>(dims.embed_dim, dtype));
  }
}

Tensor Clip4ClipHead::video_feature(const VideoFeatures& videos, nn::NamedTensorList* steps) const {
  XCLIP_CHECK(!cross_, config_.head, " head: sim_header tightTransf has no video feature of its own (its logits come "
              "from the cross encoder over every text-video pair)");
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
  if (cross_) {  // the tight type: EA's excitation (if any), then the cross encoder with dropout
    const Tensor frames = ea_ ? ea_->cross_frames(videos.frames, videos.video_mask, &steps) : videos.frames;
    HeadOutput out;
    out.logits = cross_->pair_logits(texts.sentence, frames, videos.video_mask, dropout_draw(cross_dropout_));
    out.intermediates = steps;
    out.intermediates.emplace_back("logits.cross", out.logits);
    return out;
  }
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
  if (cross_) return tight_similarity_matrix(texts, videos);
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

// The original's _run_on_single_gpu: blocks of batch_size_val texts × batch_size_val videos, each
// T·V pair one sequence. The excitation of a video block is computed once for all text blocks
// (the original recomputes it per pair: the same values).
Tensor Clip4ClipHead::tight_similarity_matrix(const TextFeatures& texts, const VideoFeatures& videos) const {
  const int64_t block = config_.batch_size_val, T = texts.sentence.dim(0), V = videos.frames.dim(0);
  std::vector<Tensor> columns;
  for (int64_t v = 0; v < V; v += block) {
    const int64_t nv = std::min(block, V - v);
    const Tensor mask = ops::narrow(videos.video_mask, 0, v, nv);
    Tensor frames = ops::narrow(videos.frames, 0, v, nv);
    if (ea_) frames = ea_->cross_frames(frames, mask);
    std::vector<Tensor> rows;
    for (int64_t t = 0; t < T; t += block)
      rows.push_back(cross_->pair_logits(ops::narrow(texts.sentence, 0, t, std::min(block, T - t)), frames, mask));
    columns.push_back(rows.size() == 1 ? rows[0] : ops::concat(rows, 0));
  }
  return columns.size() == 1 ? columns[0] : ops::concat(columns, 1);
}

nn::NamedTensorList Clip4ClipHead::copies_from_clip(const nn::NamedTensorList& state) const {
  return cross_ ? cross_->copies_from_clip(state) : SimilarityHead::copies_from_clip(state);
}

void Clip4ClipHead::reset_parameters(uint64_t seed) {
  reset_temporal_encoder(seed);
  if (cross_) {
    Generator gen(seed ^ 0xC055E4C0DE4ull);  // a stream of its own
    cross_->reset_parameters(gen);
  }
  if (ea_) {
    Generator gen(seed ^ 0xEAC11D4C11Dull);  // a stream of its own: the temporal encoder's stays as before
    ea_->reset_parameters(gen);
    if (lstm_) {
      NoGradGuard no_grad;
      init_weights_normal(lstm_positions_->weight, gen);
      lstm_->reset_parameters(gen);
    }
  }
}

ParamRole Clip4ClipHead::param_role(const std::string& name) const {
  XCLIP_CHECK(has_parameter(name), config_.head, " head: no parameter named '", name, "'");
  // tightTransf gathers nothing (the trainer averages per-rank slices instead): its roles'
  // after_gather is never read; true says that no 1/N belongs on these gradients.
  const bool after_gather = cross_ || (ea_ && ea_->has_parameter(name) && ea_->after_gather(name));
  return ParamRole{false, !is_no_decay_parameter(name), false, after_gather};
}

}  // namespace xclip::models
