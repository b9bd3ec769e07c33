// What the head tests of the CLIP4Clip families share (test_ea_clip4clip.cpp, test_tight_transf.cpp):
// three videos of four frames, eight wide (their f64 features: test::randn_f64 of ops/grad_util.hpp).
#pragma once
#include <cstdint>

#include "xclip/core/tensor.hpp"

namespace xclip::test {

constexpr int64_t kHeadVideos = 3, kHeadFrames = 4, kHeadWidth = 8;

// The three videos' frame mask: 4, 2 and 1 real frames.
inline Tensor three_video_mask() {
  return Tensor::from_vector<int64_t>({1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0}, Shape{kHeadVideos, kHeadFrames});
}

}  // namespace xclip::test
