// CLIP4Clip's tight type (sim_header tightTransf; CLIP4Clip modules/module_cross.py CrossModel and
// modules/modeling.py _cross_similarity; EA-CLIP4Clip's "Squeeze Excitation vs tightTransf" puts
// its excitation on the frames first). Every (text, video) pair is one sequence through a cross
// transformer, and a linear layer scores the pooled first token:
//   sequence     [s_t ; x_v,1 … x_v,N] + position_embeddings[0 … N]    s_t the raw EOT feature (one
//                token, always attended), x_v the video's frames; no token-type embeddings and no
//                embedding LayerNorm (module_cross.py has both commented out)
//   dropout      hidden_dropout_prob (cross_config.json: 0.1), training only
//   transformer  cross_num_hidden_layers CLIP blocks with the TF LayerNorm (eps 1e-12), padded
//                frames masked as keys with −1e6 (the text token never is)
//   pooler       QuickGELU(dense(ln_pool(h_0)))          h_0 the text token's output
//   logit        similarity_dense(pooled)                no logit scale, as the original
// The logits are not a product of a text side and a video side: nothing can be precomputed per
// video, so search cannot serve this type, and evaluation runs the transformer for every pair.
//
// Official names (registered under the head's empty name):
//   cross.embeddings.position_embeddings.weight [P, D] (P = CLIP's context_length, 77),
//   cross.transformer.resblocks.N.*, cross.pooler.ln_pool.{weight,bias}, cross.pooler.dense.{weight,bias},
//   similarity_dense.weight [1, D], similarity_dense.bias [1]
// Source: src/models/heads/clip4clip/cross_encoder.cpp.
#pragma once
#include <cstdint>

#include "xclip/core/tensor.hpp"
#include "xclip/models/heads/head.hpp"
#include "xclip/nn/layers.hpp"

namespace xclip::models {

class CrossEncoder : public nn::Module {
 public:
  CrossEncoder(int64_t width, int64_t position_rows, int layers, int heads, DType dtype = DType::f32);

  // The logits [T, V] of every pair: sentence [T, D] (or [T, 1, D]), frames [V, N, D], video_mask
  // [V, N]. The T·V sequences are built at once: callers bound T·V (evaluation goes by blocks).
  Tensor pair_logits(const Tensor& sentence, const Tensor& frames, const Tensor& video_mask,
                     const DropoutDraw& dropout = {}) const;
  // The original's init: init_weights (Linear and Embedding weights N(0, 0.02), biases 0,
  // LayerNorms (1, 0)); attention in_proj keeps nn.MultiheadAttention's xavier_uniform.
  void reset_parameters(Generator& gen);
  // from_pretrained for the tight type: when `state` (CLIP names under "clip.") has no
  // cross.transformer.*, the position table is clip.positional_embedding and block n is CLIP's
  // text block n (n < layers); otherwise nothing.
  nn::NamedTensorList copies_from_clip(const nn::NamedTensorList& state) const;
  static bool owns(const std::string& name);  // cross.* and similarity_dense.*

  nn::WeightModule& position_embeddings;
  nn::Transformer& transformer;
  nn::LayerNorm& ln_pool;
  nn::Linear& pool_dense;
  nn::Linear& similarity_dense;
};

}  // namespace xclip::models
