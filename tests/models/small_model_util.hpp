// The small X-CLIP the model, head, GPU and optimizer tests share: a 16-wide CLIP (one vision
// layer of 2 heads on 16 px images of 2×2 patches; three text layers, a 12-token context, a
// 40-token vocabulary) and a head of 6 words × 3 frames with a 2-layer temporal encoder. Small
// enough to run every path of the model in a test, large enough to have every kind of parameter.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "xclip/models/model.hpp"

namespace xclip::test {

inline models::ClipConfig small_clip_config() {
  models::ClipConfig c;
  c.embed_dim = 16;
  c.vision = models::ClipVisionConfig{16, 1, 2, 8, 2, 16};
  c.text = models::ClipTextConfig{16, 3, 2, 12, 40};
  return c;
}

// `base` (default: the official X-CLIP options, or a preset such as HeadConfig::clip4clip) at the
// small sizes.
inline models::HeadConfig small_head_config(models::HeadConfig base = {}) {
  base.max_words = 6;
  base.max_frames = 3;
  base.cross_num_hidden_layers = 2;
  base.temporal_heads = 2;
  return base;
}

// Token ids of B captions (SOT 38, 1..4 random words, EOT 39: the largest id), their masks, random
// 16 px videos and frame masks with 1..3 real frames.
struct SmallInputs {
  Tensor ids, attention, video, video_mask;
};

inline SmallInputs small_inputs(int64_t B, uint64_t seed) {
  Generator g(seed);
  std::vector<int64_t> ids(size_t(B * 6), 0), att(size_t(B * 6), 0), vm(size_t(B * 3), 0);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t words = 1 + int64_t(g.next_u64() % 4);
    ids[size_t(b * 6)] = 38;  // SOT
    for (int64_t i = 1; i <= words; ++i) ids[size_t(b * 6 + i)] = 1 + int64_t(g.next_u64() % 30);
    ids[size_t(b * 6 + words + 1)] = 39;  // EOT, the largest id
    for (int64_t i = 0; i < words + 2; ++i) att[size_t(b * 6 + i)] = 1;
    for (int64_t f = 0; f < 1 + b % 3; ++f) vm[size_t(b * 3 + f)] = 1;
  }
  return {Tensor::from_vector(ids, Shape{B, 6}), Tensor::from_vector(att, Shape{B, 6}),
          Tensor::randn(Shape{B, 3, 3, 16, 16}, g), Tensor::from_vector(vm, Shape{B, 3})};
}

}  // namespace xclip::test
