#include "xclip/models/temporal_encoder.hpp"

#include <cmath>

#include "xclip/autograd.hpp"
#include "xclip/core/profile.hpp"
#include "xclip/ops.hpp"

namespace xclip::models {

Tensor frame_padding_mask(const Tensor& video_mask, DType dtype) {
  XCLIP_CHECK(video_mask.ndim() == 2, "temporal encoder: video_mask must be [videos, frames], got ", video_mask.str());
  NoGradGuard no_grad;  // the mask is data
  Tensor m = video_mask.to(dtype);
  Tensor additive = ops::scale(ops::add_scalar(ops::neg(m), 1.0), kFramePaddingLogit);
  return additive.view(Shape{m.dim(0), 1, m.dim(1)});
}

Tensor temporal_encode(const Tensor& frames, const Tensor& video_mask, const Tensor& position_table,
                       const nn::Transformer& transformer) {
  XCLIP_CHECK(frames.ndim() == 3, "temporal encoder: frames must be [videos, frames, dim], got ", frames.str());
  const int64_t V = frames.dim(0), N = frames.dim(1), D = frames.dim(2);
  XCLIP_CHECK(video_mask.ndim() == 2 && video_mask.dim(0) == V && video_mask.dim(1) == N,
              "temporal encoder: video_mask ", video_mask.str(), " does not match frames ", frames.str());
  XCLIP_CHECK(position_table.ndim() == 2 && position_table.dim(1) == D && position_table.dim(0) >= N,
              "temporal encoder: frame_position_embeddings ", position_table.str(), " cannot serve ", N,
              " frames of width ", D);
  XCLIP_CHECK(transformer.width == D, "temporal encoder: transformerClip width ", transformer.width,
              " differs from the frame feature width ", D);
  Tensor positions = ops::narrow(position_table, 0, 0, N);  // [N, D], broadcast over videos
  Tensor x = ops::add(frames, positions);
  x = transformer.forward(x, frame_padding_mask(video_mask, frames.dtype()));
  return ops::add(x, frames);
}

TemporalEncoder::TemporalEncoder(int64_t width, int64_t position_rows, int layers, int heads, DType dtype)
    : frame_position_embeddings(register_module(
          "frame_position_embeddings",
          std::make_shared<nn::WeightModule>(Tensor::zeros(Shape{position_rows, width}, dtype)))),
      transformer_clip(register_module(
          "transformerClip", std::make_shared<nn::Transformer>(width, layers, heads, kTemporalLayerNormEps, dtype))) {}

Tensor TemporalEncoder::forward(const Tensor& frames, const Tensor& video_mask) const {
  profile::Scope region("temporal");
  return temporal_encode(frames, video_mask, frame_position_embeddings.weight, transformer_clip);
}

void init_weights_normal(Tensor& weight, Generator& gen) {
  NoGradGuard no_grad;
  weight.copy_(Tensor::randn(weight.shape(), gen, DType::f64, 0.0, 0.02));
}

void init_weights_linear(nn::Linear& linear, Generator& gen) {
  init_weights_normal(linear.weight, gen);
  NoGradGuard no_grad;
  if (linear.bias) linear.bias->fill_(0);
}

void init_module_cross_transformer(nn::Transformer& transformer, Generator& gen) {
  NoGradGuard no_grad;
  for (nn::ResidualAttentionBlock* block : transformer.resblocks) {
    Tensor& in_proj = block->attn.in_proj_weight;
    const double bound = std::sqrt(6.0 / double(in_proj.dim(0) + in_proj.dim(1)));  // xavier_uniform
    in_proj.copy_(Tensor::uniform(in_proj.shape(), gen, -bound, bound, DType::f64));
    block->attn.in_proj_bias.fill_(0);
    for (nn::Linear* lin : {&block->attn.out_proj, &block->mlp.c_fc, &block->mlp.c_proj}) init_weights_linear(*lin, gen);
    for (nn::LayerNorm* ln : {&block->ln_1, &block->ln_2}) {
      ln->weight.fill_(1);
      ln->bias.fill_(0);
    }
  }
}

void TemporalEncoder::reset_parameters(Generator& gen) {
  init_weights_normal(frame_position_embeddings.weight, gen);
  init_module_cross_transformer(transformer_clip, gen);
}

nn::NamedTensorList copies_of_clip_text_tower(const nn::NamedTensorList& state, int layers,
                                              const std::string& position_name, const std::string& blocks_prefix) {
  const std::string blocks = "clip.transformer.resblocks.";
  nn::NamedTensorList out;
  for (const auto& [name, t] : state) {
    if (name == "clip.positional_embedding") {
      out.emplace_back(position_name, t);
    } else if (name.starts_with(blocks)) {
      const std::string rest = name.substr(blocks.size());
      const int layer = std::stoi(rest.substr(0, rest.find('.')));
      if (layer < layers) out.emplace_back(blocks_prefix + rest, t);
    }
  }
  return out;
}

nn::NamedTensorList TemporalEncoder::copies_from_clip(const nn::NamedTensorList& state) const {
  for (const auto& [name, t] : state)
    if (name.find("frame_position_embeddings") != std::string::npos) return {};
  return copies_of_clip_text_tower(state, int(transformer_clip.resblocks.size()), "frame_position_embeddings.weight",
                                   "transformerClip.resblocks.");
}

bool TemporalEncoder::owns(const std::string& name) {
  return name.starts_with("frame_position_embeddings.") || name.starts_with("transformerClip.");
}

}  // namespace xclip::models
