// The temporal encoder of `sim_header seqTransf` (modeling_xclip.py, _loose_similarity), shared by
// the X-CLIP and CLIP4Clip heads:
//   x = F + frame_position_embeddings.weight[0..N-1]
//   x = transformerClip(x, additive key-padding mask (1 − video_mask)·(−1e6))
//   V = x + F                                  (residual to the original CLIP frame features)
// transformerClip is nn::Transformer with the BERT-style LayerNorm eps 1e-12 (until_module.py);
// its state_dict names are those of CLIP's text blocks, which initialise it (from_pretrained).
#pragma once
#include "xclip/nn/layers.hpp"

namespace xclip::models {

// The temporal encoder's LayerNorm epsilon (until_module.LayerNorm, TF style).
inline constexpr double kTemporalLayerNormEps = 1e-12;
// The additive value the original puts on padded frames' attention logits.
inline constexpr double kFramePaddingLogit = -1e6;

// Additive attention mask [V, 1, N] for the padded frames: (1 − video_mask)·(−1e6), applied to
// the keys of every query and head (the original repeats it per head, same values).
Tensor frame_padding_mask(const Tensor& video_mask, DType dtype);

// frames [V, N, D] (raw CLIP frame features), video_mask [V, N] (1 real, 0 padding),
// position_table [P, D] with P ≥ N. Returns V = transformer(frames + pos, mask) + frames.
Tensor temporal_encode(const Tensor& frames, const Tensor& video_mask, const Tensor& position_table,
                       const nn::Transformer& transformer);

// init_weights (until_module.PreTrainedModel, initializer_range 0.02) of an nn.Embedding table or
// an nn.Linear weight: N(0, 0.02), drawn in f64 from `gen`.
void init_weights_normal(Tensor& weight, Generator& gen);
// init_weights of an nn.Linear: its weight as above, its bias 0.
void init_weights_linear(nn::Linear& linear, Generator& gen);

// The original's init_weights of a module_cross.Transformer (the temporal encoder's, the tight
// type's cross encoder): Linear weights N(0, 0.02), biases 0, LayerNorm (1, 0), and in_proj
// xavier_uniform (nn.MultiheadAttention's own init, which init_weights does not reach); `gen` is
// consumed block by block in that order.
void init_module_cross_transformer(nn::Transformer& transformer, Generator& gen);

// from_pretrained's copies of CLIP's text tower into a module_cross.Transformer: `position_name` =
// clip.positional_embedding, `blocks_prefix` + "n.*" = clip.transformer.resblocks.n.* for n < layers.
nn::NamedTensorList copies_of_clip_text_tower(const nn::NamedTensorList& state, int layers,
                                              const std::string& position_name, const std::string& blocks_prefix);

// The encoder's parameters: frame_position_embeddings.weight [position_rows, width] and
// transformerClip.resblocks.N.* . A head registers it under the empty name, so the names are
// top-level, as in the original.
class TemporalEncoder : public nn::Module {
 public:
  TemporalEncoder(int64_t width, int64_t position_rows, int layers, int heads, DType dtype);
  nn::WeightModule& frame_position_embeddings;
  nn::Transformer& transformer_clip;

  // frames [V, N, D], video_mask [V, N] -> [V, N, D].
  Tensor forward(const Tensor& frames, const Tensor& video_mask) const;
  // The original's init_weights: frame_position_embeddings and the Linear weights N(0, 0.02),
  // biases 0, LayerNorm (1, 0), in_proj xavier_uniform; `gen` is consumed in that order.
  void reset_parameters(Generator& gen);
  // from_pretrained's init_preweight: when `state` (names under "clip.") has no
  // frame_position_embeddings, frame_position_embeddings = clip.positional_embedding and
  // transformerClip block n = CLIP text block n (n < layers); otherwise nothing.
  nn::NamedTensorList copies_from_clip(const nn::NamedTensorList& state) const;
  // True for the names this module owns (frame_position_embeddings.*, transformerClip.*).
  static bool owns(const std::string& name);
};

}  // namespace xclip::models
