// EA-CLIP4Clip's frame blocks and intra_attn (models/heads/excitation_aggregation.hpp), composed of
// existing ops, so their backward is the chain of the ops' and both devices run them.
#include "xclip/models/heads/excitation_aggregation.hpp"

#include <cmath>

#include "xclip/autograd.hpp"
#include "xclip/core/error.hpp"
#include "xclip/models/temporal_encoder.hpp"
#include "xclip/ops.hpp"

namespace xclip::models {

namespace {

// Python's float a // b (float_divmod): floor of the exactly rounded quotient, with its fix-ups,
// so that e.g. 12 // (1 / 3) gives what the original's int(12 // (1 / r)) gives.
double python_floordiv(double a, double b) {
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0.0 && ((b < 0) != (mod < 0))) div -= 1.0;
  if (div == 0.0) return std::copysign(0.0, a / b);
  double floor_div = std::floor(div);
  if (div - floor_div > 0.5) floor_div += 1.0;
  return floor_div;
}

Tensor activate(const Tensor& x, FrameActivation act) {
  return act == FrameActivation::relu ? ops::relu(x) : ops::relu6(x);
}

void check_ratio(double r, const char* condition, bool holds, const std::string& type) {
  XCLIP_CHECK(holds, "config: reduction_ratio must be ", condition, " for excitation_aggregation_type '", type,
              "' (its excitation uses r, its aggregation 1/r), got ", r);
}

}  // namespace

int64_t frame_block_hidden(int64_t frames, double ratio, const std::string& what) {
  XCLIP_CHECK(std::isfinite(ratio) && ratio > 0, "config: reduction_ratio must be a positive number, got ", ratio);
  const double h = python_floordiv(double(frames), ratio);
  XCLIP_CHECK(h >= 1 && h <= double(int64_t(1) << 20), "config: reduction_ratio ", ratio, " gives ", what,
              " int(max_frames // r) = int(", frames, " // ", ratio, ") = ", h,
              " hidden units; it must be at least 1 (and at most 2^20)");
  return int64_t(h);
}

// ---- FrameBlock ----------------------------------------------------------------------------------
FrameBlock::FrameBlock(Kind kind_, int64_t frames_, double ratio, FrameActivation act, DType dtype)
    : kind(kind_),
      activation(act),
      frames(frames_),
      hidden(frame_block_hidden(frames_, ratio, kind_ == Kind::excitation ? "an excitation block" : "an aggregation block")),
      fc0_(register_module("fc.0", std::make_shared<nn::Linear>(frames_, hidden, true, dtype))),
      fc2_(register_module("fc.2", std::make_shared<nn::Linear>(hidden, frames_, true, dtype))) {}

Tensor FrameBlock::weights(const Tensor& x, const Tensor& mask) const {
  XCLIP_CHECK(x.ndim() == 3 && x.dim(1) == frames, "frame block: expected frame features [videos, ", frames,
              ", width] (max_frames fixes the block's weights), got ", x.str());
  Tensor z = ops::mean(x, 2);  // [B, N]: AdaptiveAvgPool1d(1) over the embedding axis
  if (mask.defined()) z = ops::mul(z, mask.to(z.dtype()).detach());
  const Tensor s = fc2_.forward(activate(fc0_.forward(z), activation));  // [B, N]
  if (kind == Kind::excitation) return ops::sigmoid(s);
  return ops::softmax(s, -1, 1.0, mask.defined() ? frame_padding_mask(mask, s.dtype()).view(s.shape()) : Tensor());
}

Tensor FrameBlock::apply(const Tensor& x, const Tensor& w) const {
  const Tensor w3 = ops::unsqueeze(w, 2);  // [B, N, 1]
  if (kind == Kind::excitation) return ops::mul(x, w3);
  return ops::sum(ops::mul(x, w3), 1);  // einsum('bnd,bn->bd')
}

void FrameBlock::reset_parameters(Generator& gen) {
  NoGradGuard no_grad;
  init_weights_linear(fc0_, gen);
  init_weights_linear(fc2_, gen);
}

// ---- IntraAttention ------------------------------------------------------------------------------
IntraAttention::IntraAttention(int64_t width, DType dtype)
    : fc0_(register_module("intra_mlp.0", std::make_shared<nn::Linear>(2 * width, width, true, dtype))),
      fc2_(register_module("intra_mlp.2", std::make_shared<nn::Linear>(width, 1, true, dtype))) {}

Tensor IntraAttention::forward(const Tensor& x, const Tensor& mask) const {
  XCLIP_CHECK(x.ndim() == 3, "intra_attn: frame features must be [videos, frames, width], got ", x.str());
  const Tensor mean = mask.defined() ? ops::masked_mean(x, mask, 1) : ops::mean(x, 1);  // [B, D]
  // [x_n ; x̄] for every frame: x̄ broadcast over the frames by adding it to zeros.
  const Tensor mean_per_frame = ops::add(Tensor::zeros(x.shape(), x.dtype(), x.device()), ops::unsqueeze(mean, 1));
  const Tensor both = ops::concat({x, mean_per_frame}, 2);                  // [B, N, 2D]
  const Tensor omega = fc2_.forward(ops::relu(fc0_.forward(both)));         // [B, N, 1]
  return ops::mul(x, omega);
}

void IntraAttention::reset_parameters(Generator& gen) {
  NoGradGuard no_grad;
  init_weights_linear(fc0_, gen);
  init_weights_linear(fc2_, gen);
}

// ---- options -------------------------------------------------------------------------------------
EaOptions EaOptions::parse(const HeadConfig& c) {
  EaOptions o;
  o.se_block = c.option_as<bool>("se_block");
  o.se_type = c.option_as<std::string>("se_type");
  o.reduction_ratio = c.option_as<double>("reduction_ratio");
  o.excitation_aggregation_type = c.option_as<std::string>("excitation_aggregation_type");
  o.intra_attn = c.option_as<bool>("ea_intra_attn");
  o.mask_frames = c.option_as<bool>("ea_mask_frames");
  XCLIP_CHECK(o.se_type != "excitation_seq_aggregation",
              "config: se_type 'excitation_seq_aggregation' is not supported: the released code crashes on it "
              "(the aggregation returns [B, D] and intra_attn then expands a 2-d tensor)");
  XCLIP_CHECK(o.se_type == "excitation" || o.se_type == "aggregation" || o.se_type == "excitation_aggregation" ||
                  o.se_type == "excitation_seq",
              "config: se_type must be excitation, aggregation, excitation_aggregation or excitation_seq, got '",
              o.se_type, "'");
  const std::string& t = o.excitation_aggregation_type;
  XCLIP_CHECK(t == "unity" || t == "squeeze_expand" || t == "expand_squeeze",
              "config: excitation_aggregation_type must be unity, squeeze_expand or expand_squeeze, got '", t, "'");
  XCLIP_CHECK(std::isfinite(o.reduction_ratio) && o.reduction_ratio > 0,
              "config: reduction_ratio must be a positive number, got ", o.reduction_ratio);
  if (o.se_block && o.se_type == "excitation_aggregation") {
    if (t == "squeeze_expand") check_ratio(o.reduction_ratio, "> 1", o.reduction_ratio > 1, t);
    if (t == "expand_squeeze") check_ratio(o.reduction_ratio, "< 1", o.reduction_ratio < 1, t);
  }
  if (c.sim_header == "tightTransf") {
    XCLIP_CHECK(!o.se_block || o.se_type == "excitation",
                "config: sim_header tightTransf takes se_type excitation only (the released _get_cross_output "
                "applies no other block), got '", o.se_type, "'");
    XCLIP_CHECK(!o.intra_attn, "config: ea_intra_attn is a loose-type module: the released tight type never applies it");
  }
  XCLIP_CHECK(!(o.se_block && o.se_type == "excitation_seq" && c.sim_header == "meanP"),
              "config: se_type 'excitation_seq' needs sim_header seqTransf or seqLSTM: it excites the frames "
              "before the temporal module, and with meanP the released code never applies it");
  return o;
}

// ---- ExcitationAggregation -----------------------------------------------------------------------
ExcitationAggregation::ExcitationAggregation(const HeadConfig& config, int64_t width, DType dtype)
    : options_(EaOptions::parse(config)) {
  const int64_t N = config.max_frames;
  const double r = options_.reduction_ratio;
  using Kind = FrameBlock::Kind;
  // The single blocks take ReLU when they squeeze (r > 1), ReLU6 when they expand.
  const FrameActivation by_ratio = r > 1 ? FrameActivation::relu : FrameActivation::relu6;
  auto add = [&](const std::string& name, Kind kind, double ratio, FrameActivation act) {
    FrameBlock& b = register_module(name, std::make_shared<FrameBlock>(kind, N, ratio, act, dtype));
    blocks_.push_back(&b);
    return &b;
  };
  if (options_.se_block) {
    const std::string& type = options_.se_type;
    if (type == "excitation") {
      excitation_ = add("se_block", Kind::excitation, r, by_ratio);
    } else if (type == "aggregation") {
      aggregation_ = add("se_block", Kind::aggregation, r, by_ratio);
    } else if (type == "excitation_seq") {
      seq_excitation_ = add("se_block_excitation", Kind::excitation, r, by_ratio);
    } else {  // excitation_aggregation: `unity` uses ReLU in both (the release's choice, not by ratio)
      const std::string& ea = options_.excitation_aggregation_type;
      const FrameActivation exc_act = ea == "expand_squeeze" ? FrameActivation::relu6 : FrameActivation::relu;
      const FrameActivation agg_act = ea == "squeeze_expand" ? FrameActivation::relu6 : FrameActivation::relu;
      const double agg_ratio = ea == "unity" ? r : 1.0 / r;
      excitation_ = add("se_block.scale", Kind::excitation, r, exc_act);
      aggregation_ = add("se_block.aggregate", Kind::aggregation, agg_ratio, agg_act);
    }
  }
  if (options_.intra_attn) intra_ = &register_module("", std::make_shared<IntraAttention>(width, dtype));
}

Tensor ExcitationAggregation::mask_if_on(const Tensor& video_mask) const {
  return options_.mask_frames ? video_mask : Tensor();
}

Tensor ExcitationAggregation::before_temporal(const Tensor& frames, const Tensor& video_mask) const {
  return seq_excitation_ ? seq_excitation_->forward(frames, mask_if_on(video_mask)) : frames;
}

Tensor ExcitationAggregation::video_feature(const Tensor& temporal, const Tensor& video_mask,
                                            nn::NamedTensorList* steps) const {
  XCLIP_CHECK(temporal.ndim() == 3 && video_mask.ndim() == 2 && video_mask.dim(0) == temporal.dim(0) &&
                  video_mask.dim(1) == temporal.dim(1),
              "ea_clip4clip head: video_mask ", video_mask.str(), " does not match the frame features ",
              temporal.str());
  const Tensor mask = mask_if_on(video_mask);
  const Tensor x = excite(intra_ ? intra_->forward(temporal, mask) : temporal, mask, steps);
  Tensor video;
  if (aggregation_) {
    const Tensor a = aggregation_->weights(x, mask);
    if (steps) steps->emplace_back("weight_agg", a);
    video = aggregation_->apply(x, a);
  } else {
    video = ops::masked_mean(x, video_mask, 1);  // _mean_pooling_for_similarity_visual, raw frames
  }
  return ops::l2_normalize(video, -1);
}

Tensor ExcitationAggregation::excite(const Tensor& x, const Tensor& mask, nn::NamedTensorList* steps) const {
  if (!excitation_) return x;
  const Tensor e = excitation_->weights(x, mask);
  if (steps) steps->emplace_back("weight_exc", e);
  return excitation_->apply(x, e);
}

Tensor ExcitationAggregation::cross_frames(const Tensor& frames, const Tensor& video_mask,
                                           nn::NamedTensorList* steps) const {
  return excite(frames, mask_if_on(video_mask), steps);
}

void ExcitationAggregation::reset_parameters(Generator& gen) {
  for (FrameBlock* b : blocks_) b->reset_parameters(gen);
  if (intra_) intra_->reset_parameters(gen);
}

bool ExcitationAggregation::after_gather(const std::string& name) const {
  return !name.starts_with("se_block_excitation.");
}

}  // namespace xclip::models
