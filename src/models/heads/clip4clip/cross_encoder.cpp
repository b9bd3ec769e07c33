// The tight type's cross encoder (cross_encoder.hpp): pair sequences, the cross transformer, the
// pooler and similarity_dense.
#include "xclip/models/heads/cross_encoder.hpp"

#include <vector>

#include "xclip/autograd.hpp"
#include "xclip/core/profile.hpp"
#include "xclip/models/temporal_encoder.hpp"
#include "xclip/ops.hpp"

namespace xclip::models {

namespace {

const std::string kCrossBlocks = "cross.transformer.resblocks.";

// Row indices of the T·V pairs, text-major (pair t·V + v): which text and which video each is.
struct PairRows {
  Tensor text;   // i64 [T·V]: t
  Tensor video;  // i64 [T·V]: v
};

PairRows pair_rows(int64_t T, int64_t V, Device device) {
  std::vector<int64_t> text(size_t(T * V)), video(size_t(T * V));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t v = 0; v < V; ++v) {
      text[size_t(t * V + v)] = t;
      video[size_t(t * V + v)] = v;
    }
  return {Tensor::from_vector<int64_t>(text, Shape{T * V}).to(device),
          Tensor::from_vector<int64_t>(video, Shape{T * V}).to(device)};
}

// The additive key mask [T·V, 1, 1 + N]: 0 for the text token, (1 − video_mask)·(−1e6) for the frames.
Tensor pair_key_mask(const Tensor& video_mask, const Tensor& video_rows, DType dtype) {
  NoGradGuard no_grad;  // the mask is data
  const Tensor m = video_mask.to(dtype);
  const Tensor keys = ops::concat({Tensor::ones(Shape{m.dim(0), 1}, dtype, m.device()), m}, 1);  // [V, 1 + N]
  return ops::index_select(frame_padding_mask(keys, dtype), video_rows);
}

}  // namespace

CrossEncoder::CrossEncoder(int64_t width, int64_t position_rows, int layers, int heads, DType dtype)
    : position_embeddings(register_module("cross.embeddings.position_embeddings",
                                          std::make_shared<nn::WeightModule>(
                                              Tensor::zeros(Shape{position_rows, width}, dtype)))),
      transformer(register_module("cross.transformer",
                                  std::make_shared<nn::Transformer>(width, layers, heads, kTemporalLayerNormEps, dtype))),
      ln_pool(register_module("cross.pooler.ln_pool", std::make_shared<nn::LayerNorm>(width, kTemporalLayerNormEps, dtype))),
      pool_dense(register_module("cross.pooler.dense", std::make_shared<nn::Linear>(width, width, true, dtype))),
      similarity_dense(register_module("similarity_dense", std::make_shared<nn::Linear>(width, 1, true, dtype))) {}

Tensor CrossEncoder::pair_logits(const Tensor& sentence_in, const Tensor& frames, const Tensor& video_mask,
                                 const DropoutDraw& dropout) const {
  profile::Scope region("cross");
  const Tensor sentence = sentence_rows(sentence_in);
  XCLIP_CHECK(frames.ndim() == 3 && sentence.dim(1) == frames.dim(2),
              "tightTransf: sentence ", sentence_in.str(), " and frames ", frames.str(), " do not fit [T, D], [V, N, D]");
  const int64_t T = sentence.dim(0), V = frames.dim(0), N = frames.dim(1), D = frames.dim(2);
  XCLIP_CHECK(video_mask.ndim() == 2 && video_mask.dim(0) == V && video_mask.dim(1) == N,
              "tightTransf: video_mask ", video_mask.str(), " does not match frames ", frames.str());
  XCLIP_CHECK(D == transformer.width, "tightTransf: the cross encoder is ", transformer.width,
              " wide, the features ", D);
  const Tensor& table = position_embeddings.weight;
  XCLIP_CHECK(table.dim(0) >= N + 1, "tightTransf: cross.embeddings.position_embeddings has ", table.dim(0),
              " rows, a sequence of one text token and ", N, " frames needs ", N + 1);

  const PairRows rows = pair_rows(T, V, frames.device());
  const Tensor text_token = ops::unsqueeze(ops::index_select(sentence, rows.text), 1);  // [T·V, 1, D]
  Tensor x = ops::concat({text_token, ops::index_select(frames, rows.video)}, 1);      // [T·V, 1 + N, D]
  x = ops::add(x, ops::narrow(table, 0, 0, N + 1));
  if (dropout.p > 0) x = ops::dropout(x, dropout.p, dropout.seed, dropout.stream(0));
  x = transformer.forward(x, pair_key_mask(video_mask, rows.video, x.dtype()));
  // The pooler's LayerNorm is per token, so normalising the first token alone is the original's
  // ln_pool over the whole sequence followed by [:, 0].
  const Tensor first = ops::squeeze(ops::narrow(x, 1, 0, 1), 1);  // [T·V, D]
  const Tensor pooled = ops::quick_gelu(pool_dense.forward(ln_pool.forward(first)));
  return ops::reshape(similarity_dense.forward(pooled), Shape{T, V});
}

void CrossEncoder::reset_parameters(Generator& gen) {
  init_weights_normal(position_embeddings.weight, gen);
  init_module_cross_transformer(transformer, gen);
  {
    NoGradGuard no_grad;
    ln_pool.weight.fill_(1);
    ln_pool.bias.fill_(0);
  }
  init_weights_linear(pool_dense, gen);
  init_weights_linear(similarity_dense, gen);
}

nn::NamedTensorList CrossEncoder::copies_from_clip(const nn::NamedTensorList& state) const {
  for (const auto& [name, t] : state)
    if (name.find("cross.transformer") != std::string::npos) return {};
  return copies_of_clip_text_tower(state, int(transformer.resblocks.size()),
                                   "cross.embeddings.position_embeddings.weight", kCrossBlocks);
}

bool CrossEncoder::owns(const std::string& name) {
  return name.starts_with("cross.") || name.starts_with("similarity_dense.");
}

}  // namespace xclip::models
