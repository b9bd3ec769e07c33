#include "xclip/models/xclip_heads.hpp"

#include <cmath>

#include "xclip/core/profile.hpp"
#include "xclip/ops.hpp"

namespace xclip::models {

int temporal_heads(const XClipConfig& config, int64_t width) {
  if (config.temporal_heads > 0) return config.temporal_heads;
  XCLIP_CHECK(width >= 64, "X-CLIP: temporal encoder width ", width,
              " is below 64, so width / 64 heads is 0: set temporal_heads in the config");
  return int(width / 64);
}

void XClipHeadsBase::register_aosm(int64_t D, DType dtype) {
  if (!config_.learnable_aosm) return;
  AosmMatrices init = AosmMatrices::identity(D, config_.max_words, config_.max_frames, dtype);
  std::vector<Tensor*> slots = aosm_.all(), values = init.all();
  for (size_t i = 0; i < slots.size(); ++i) *slots[i] = register_parameter(AosmMatrices::names()[i], *values[i]);
}

void XClipHeadsBase::register_temporal(const HeadDims& dims, DType dtype) {
  if (!config_.temporal_encoder()) return;
  XCLIP_CHECK(dims.position_rows >= config_.max_frames, "X-CLIP: frame_position_embeddings has ", dims.position_rows,
              " rows, fewer than max_frames ", config_.max_frames);
  frame_position_embeddings_ = &register_module(
      "frame_position_embeddings", std::make_shared<Embedding>(dims.position_rows, dims.embed_dim, dtype));
  transformer_clip_ = &register_module(
      "transformerClip",
      std::make_shared<nn::Transformer>(dims.embed_dim, config_.cross_num_hidden_layers,
                                        temporal_heads(config_, dims.embed_dim), kTemporalLayerNormEps, dtype));
}

Tensor XClipHeadsBase::temporal(const VideoFeatures& videos) const {
  if (!config_.temporal_encoder()) return videos.frames;
  ops::AutocastBf16Guard bf16(bf16_autocast_temporal_ || ops::autocast_bf16_enabled());
  profile::Scope region("temporal");
  return temporal_encode(videos.frames, videos.video_mask, frame_position_embeddings_->weight, *transformer_clip_);
}

VideoSide XClipHeadsBase::video_side(const VideoFeatures& videos, Tensor* temporal_out) const {
  Tensor t = temporal(videos);
  if (temporal_out) *temporal_out = t;
  return make_video_side(config_, videos.frames, t, videos.video_mask);
}

HeadOutput XClipHeadsBase::forward(const TextFeatures& texts, const VideoFeatures& videos) const {
  HeadOutput out;
  out.text = make_text_side(texts.sentence, texts.words, texts.attention_mask);
  out.video = video_side(videos, &out.temporal);
  out.terms = similarity_terms(config_, aosm_, logit_scale(), out.text, out.video);
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

Tensor XClipHeadsBase::similarity_matrix(const TextFeatures& texts, const VideoFeatures& videos) const {
  NoGradGuard no_grad;
  const int64_t block = config_.batch_size_val;
  const TextSide text = make_text_side(texts.sentence, texts.words, texts.attention_mask);
  const int64_t T = text.sentence.dim(0), V = videos.frames.dim(0);
  std::vector<VideoSide> video_blocks;
  for (int64_t v = 0; v < V; v += block) video_blocks.push_back(video_side(narrow_videos(videos, v, std::min(block, V - v))));
  std::vector<Tensor> rows;
  for (int64_t t = 0; t < T; t += block) {
    const TextSide text_block = narrow_text(text, t, std::min(block, T - t));
    std::vector<Tensor> cols;
    for (const VideoSide& video_block : video_blocks)
      cols.push_back(similarity_terms(config_, aosm_, logit_scale(), text_block, video_block).logits);
    rows.push_back(cols.size() == 1 ? cols[0] : ops::concat(cols, 1));
  }
  return rows.size() == 1 ? rows[0] : ops::concat(rows, 0);
}

void XClipHeadsBase::reset_head_parameters(uint64_t seed) {
  NoGradGuard no_grad;
  if (aosm_.defined())
    for (Tensor* m : aosm_.all()) m->copy_(Tensor::eye(m->dim(0), m->dtype()));
  if (!config_.temporal_encoder()) return;
  Generator gen(seed);
  auto normal = [&](Tensor& t) { t.copy_(Tensor::randn(t.shape(), gen, DType::f64, 0.0, 0.02)); };
  normal(frame_position_embeddings_->weight);
  for (nn::ResidualAttentionBlock* block : transformer_clip_->resblocks) {
    Tensor& in_proj = block->attn.in_proj_weight;
    const double bound = std::sqrt(6.0 / double(in_proj.dim(0) + in_proj.dim(1)));  // xavier_uniform
    in_proj.copy_(Tensor::uniform(in_proj.shape(), gen, -bound, bound, DType::f64));
    block->attn.in_proj_bias.fill_(0);
    for (nn::Linear* lin : {&block->attn.out_proj, &block->mlp.c_fc, &block->mlp.c_proj}) {
      normal(lin->weight);
      if (lin->bias) lin->bias->fill_(0);
    }
    for (nn::LayerNorm* ln : {&block->ln_1, &block->ln_2}) {
      ln->weight.fill_(1);
      ln->bias.fill_(0);
    }
  }
}

namespace {
// Stands in for the CLIP model in the heads-only module: just `logit_scale` (ln 100 at start,
// as OpenAI's checkpoints hold), so the name is clip.logit_scale as in the full model.
class LogitScaleOnly : public nn::Module {
 public:
  explicit LogitScaleOnly(DType dtype)
      : logit_scale(register_parameter("logit_scale", Tensor::full(Shape{}, std::log(100.0), dtype))) {}
  Tensor& logit_scale;
};
}  // namespace

XClipHeads::XClipHeads(const XClipConfig& config, const HeadDims& dims, DType dtype) : XClipHeadsBase(config) {
  register_aosm(dims.embed_dim, dtype);
  logit_scale_ = register_module("clip", std::make_shared<LogitScaleOnly>(dtype)).logit_scale;
  register_temporal(dims, dtype);
}

}  // namespace xclip::models
