// What the head tests of the CLIP4Clip families share (test_ea_clip4clip.cpp, test_tight_transf.cpp):
// features of three videos of four frames, eight wide, in f64 for the gradient checks.
#pragma once
#include <cstdint>

#include "xclip/core/tensor.hpp"

namespace xclip::test {

constexpr int64_t kHeadVideos = 3, kHeadFrames = 4, kHeadWidth = 8;

// N(0, sd²) values in f64 from `seed`.
inline Tensor randn_f64(const Shape& s, uint64_t seed, double sd = 1.0) {
  Generator g(seed);
  return Tensor::randn(s, g, DType::f64, 0.0, sd);
}

// The three videos' frame mask: 4, 2 and 1 real frames.
inline Tensor three_video_mask() {
  return Tensor::from_vector<int64_t>({1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0}, Shape{kHeadVideos, kHeadFrames});
}

}  // namespace xclip::test
