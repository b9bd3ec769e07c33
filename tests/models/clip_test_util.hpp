// Helpers shared by the CLIP tests: the OpenAI state_dict layout written out from the spec, a tiny
// config, and random weights in which every parameter (biases and LayerNorms included) matters.
#pragma once
#include <string>

#include "xclip/models/clip.hpp"

namespace xclip::test {

// Every tensor of an OpenAI ViT CLIP state_dict, in PyTorch's order, with its shape (spec §1.2,
// §1.4, §2): built from the spec, independent of the Clip class.
inline models::ShapeList openai_clip_shapes(const models::ClipConfig& c) {
  const int64_t W = c.vision.width, T = c.text.width, E = c.embed_dim, p = c.vision.patch;
  models::ShapeList s = {{"positional_embedding", Shape{c.text.context_length, T}},
                         {"text_projection", Shape{T, E}},
                         {"logit_scale", Shape{}},
                         {"visual.class_embedding", Shape{W}},
                         {"visual.positional_embedding", Shape{c.vision.grid * c.vision.grid + 1, W}},
                         {"visual.proj", Shape{W, E}},
                         {"visual.conv1.weight", Shape{W, 3, p, p}},
                         {"visual.ln_pre.weight", Shape{W}},
                         {"visual.ln_pre.bias", Shape{W}}};
  auto blocks = [&s](const std::string& stem, int64_t d, int64_t layers) {
    for (int64_t i = 0; i < layers; ++i) {
      const std::string b = stem + std::to_string(i) + ".";
      s.insert(s.end(), {{b + "attn.in_proj_weight", Shape{3 * d, d}},
                         {b + "attn.in_proj_bias", Shape{3 * d}},
                         {b + "attn.out_proj.weight", Shape{d, d}},
                         {b + "attn.out_proj.bias", Shape{d}},
                         {b + "ln_1.weight", Shape{d}},
                         {b + "ln_1.bias", Shape{d}},
                         {b + "mlp.c_fc.weight", Shape{4 * d, d}},
                         {b + "mlp.c_fc.bias", Shape{4 * d}},
                         {b + "mlp.c_proj.weight", Shape{d, 4 * d}},
                         {b + "mlp.c_proj.bias", Shape{d}},
                         {b + "ln_2.weight", Shape{d}},
                         {b + "ln_2.bias", Shape{d}}});
    }
  };
  blocks("visual.transformer.resblocks.", W, c.vision.layers);
  s.insert(s.end(), {{"visual.ln_post.weight", Shape{W}}, {"visual.ln_post.bias", Shape{W}}});
  blocks("transformer.resblocks.", T, c.text.layers);
  s.insert(s.end(), {{"token_embedding.weight", Shape{c.text.vocab_size, T}},
                     {"ln_final.weight", Shape{T}},
                     {"ln_final.bias", Shape{T}}});
  return s;
}

// Two heads per tower, 8 px images of 2×2 patches, 6-token context: small enough for a full
// finite-difference gradient check.
inline models::ClipConfig tiny_clip_config() {
  models::ClipConfig c;
  c.embed_dim = 6;
  c.vision = models::ClipVisionConfig{8, 2, 2, 4, 2, 8};
  c.text = models::ClipTextConfig{8, 2, 2, 6, 20};
  return c;
}

// OpenAI-style init, then biases N(0, 0.2) and LayerNorm weights 1 + N(0, 0.2) so that no
// parameter sits at a value where its gradient could vanish by symmetry.
inline void randomize(models::Clip& clip, uint64_t seed) {
  Generator g(seed);
  clip.init_random(g);
  for (auto& [name, p] : clip.named_parameters()) {
    const bool ln_weight = name.find("ln_") != std::string::npos && name.ends_with(".weight");
    if (name.ends_with("bias")) p.copy_(Tensor::randn(p.shape(), g, p.dtype(), 0.0, 0.2));
    if (ln_weight) p.copy_(Tensor::randn(p.shape(), g, p.dtype(), 1.0, 0.2));
  }
}

// Token ids [B, L] like the dataloader's: SOT, words, EOT (the largest id), zero padding.
inline Tensor tiny_ids(int64_t vocab, int64_t L) {
  const int64_t sot = vocab - 2, eot = vocab - 1;
  std::vector<int64_t> ids(size_t(2 * L), 0);
  std::vector<int64_t> a = {sot, 3, 7, eot}, b = {sot};
  for (int64_t i = 1; i < L - 1; ++i) b.push_back(1 + (5 * i) % (vocab - 3));
  b.push_back(eot);
  std::copy(a.begin(), a.end(), ids.begin());
  std::copy(b.begin(), b.end(), ids.begin() + L);
  return Tensor::from_vector(ids, Shape{2, L});
}

}  // namespace xclip::test
