// A profiled forward + backward of the tiny X-CLIP, and the checks every profile must pass; shared
// by the CPU test (tests/core/test_profile.cpp) and the GPU one (tests/cuda/test_cuda_profile.cpp).
#pragma once
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "train/train_test_util.hpp"
#include "xclip/core/profile.hpp"

namespace xclip::test {

struct TinyBatch {
  Tensor ids, attention, video, video_mask;
};

// B captions [SOT, word, EOT, 0...] and random videos, every frame valid, on `device`.
inline TinyBatch tiny_batch(int64_t B, Device device) {
  std::vector<int64_t> ids(size_t(B * kWords), 0), attention(size_t(B * kWords), 0);
  for (int64_t b = 0; b < B; ++b) {
    int64_t* row = ids.data() + b * kWords;
    row[0] = kSot, row[1] = 10 + b, row[2] = kEot;
    std::fill(attention.begin() + b * kWords, attention.begin() + b * kWords + 3, 1);
  }
  Generator g(5);
  return {Tensor::from_vector(ids, Shape{B, kWords}).to(device),
          Tensor::from_vector(attention, Shape{B, kWords}).to(device),
          Tensor::randn(Shape{B, kFrames, 3, kRes, kRes}, g).to(device),
          Tensor::ones(Shape{B, kFrames}, DType::i64, device)};
}

// Forward (inside the region "forward") and backward of the model, profiled on `device`.
inline profile::Report profile_forward_backward(models::RetrievalModel& model, const TinyBatch& in, Device device) {
  model.zero_grad();
  profile::start(device);
  Tensor loss = [&] {
    profile::Scope region("forward");
    return model.forward(in.ids, in.attention, in.video, in.video_mask).loss;
  }();
  loss.backward();
  profile::stop();
  return profile::report();
}

// The regions the instrumentation promises for the tiny model (1 layer per tower, seqTransf).
inline std::vector<std::string> expected_regions() {
  return {"forward",
          "forward.visual",
          "forward.visual.patch_embed",
          "forward.visual.resblocks.0",
          "forward.visual.ln_post_proj",
          "forward.text",
          "forward.text.resblocks.0",
          "forward.temporal",
          "forward.temporal.resblocks.0",
          "forward.similarity",
          "forward.similarity.video_sentence",
          "forward.similarity.video_word",
          "forward.similarity.sentence_frame",
          "forward.similarity.frame_word",
          "forward.loss",
          "backward",
          "backward.matmul",
          "backward.layer_norm"};
}

// Every expected region present with a positive time; no region's children add up to more than
// the region itself; self times not negative; percentages of a window that holds everything.
inline void check_profile(const profile::Report& r) {
  std::map<std::string, const profile::Row*> by_name;
  for (const profile::Row& row : r.rows) by_name[row.name] = &row;
  for (const std::string& name : expected_regions()) {
    INFO("region " << name);
    REQUIRE(by_name.count(name));
    CHECK(by_name[name]->calls >= 1);
    CHECK(by_name[name]->total_ms > 0);
  }
  std::map<std::string, double> children_ms;
  for (const profile::Row& row : r.rows)
    if (!row.parent.empty()) children_ms[row.parent] += row.total_ms;
  const double slack = 1e-6;  // event times are rounded to about half a microsecond
  for (const auto& [parent, ms] : children_ms) {
    INFO("children of " << parent);
    REQUIRE(by_name.count(parent));
    CHECK(ms <= by_name[parent]->total_ms + slack);
    CHECK(by_name[parent]->self_ms >= -slack);
  }
  CHECK(r.top_level_ms <= r.window_ms + slack);
  CHECK(r.top_level_ms > 0.5 * r.window_ms);  // forward and backward are the whole window
}

}  // namespace xclip::test
