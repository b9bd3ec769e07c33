// The temporal encoder of `sim_header seqTransf` (modeling_xclip.py, _loose_similarity):
//   x = F + frame_position_embeddings.weight[0..N-1]
//   x = transformerClip(x, additive key-padding mask (1 − video_mask)·(−1e6))
//   V = x + F                                  (residual to the original CLIP frame features)
// transformerClip is nn::Transformer with the BERT-style LayerNorm eps 1e-12 (until_module.py);
// its state_dict names are those of CLIP's text blocks, which initialise it (from_pretrained).
#pragma once
#include "xclip/nn/layers.hpp"

namespace xclip::models {

// nn.Embedding: a table `weight` [rows, dim] (here only ever read as a slice of rows 0..N-1).
class Embedding : public nn::Module {
 public:
  Embedding(int64_t rows, int64_t dim, DType dtype = DType::f32);
  Tensor& weight;
};

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

}  // namespace xclip::models
