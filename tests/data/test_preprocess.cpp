// Frame selection, order, normalisation, and images / folders of frames as videos.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "test_util.hpp"
#include "xclip/data/image.hpp"
#include "xclip/data/video.hpp"

using namespace xclip::data;

TEST_CASE("slice_framepos 2 is numpy.linspace(0, n-1, max_frames) cast to int", "[preprocess]") {
  // Spec §7.2 test vectors (numpy 1.24).
  CHECK(slice_frame_indices(30, 12, 2) == std::vector<int>{0, 2, 5, 7, 10, 13, 15, 18, 21, 23, 26, 29});
  const std::vector<int> k = slice_frame_indices(120, 64, 2);
  CHECK(std::vector<int>(k.begin(), k.begin() + 10) == std::vector<int>{0, 1, 3, 5, 7, 9, 11, 13, 15, 17});
  CHECK(k.back() == 119);
  CHECK(k.size() == 64);
}

TEST_CASE("slice_framepos 0 and 1 keep the first and the last, n <= max_frames keeps all", "[preprocess]") {
  CHECK(slice_frame_indices(20, 4, 0) == std::vector<int>{0, 1, 2, 3});
  CHECK(slice_frame_indices(20, 4, 1) == std::vector<int>{16, 17, 18, 19});
  CHECK(slice_frame_indices(3, 12, 2) == std::vector<int>{0, 1, 2});
  CHECK(slice_frame_indices(0, 12, 2).empty());
  CHECK(slice_frame_indices(5, 1, 2) == std::vector<int>{0});
  CHECK_THROWS_AS(slice_frame_indices(5, 3, 3), xclip::Error);
}

TEST_CASE("frame_order 0 keeps, 1 reverses, 2 shuffles deterministically", "[preprocess]") {
  const std::vector<int> v{0, 1, 2, 3, 4, 5};
  CHECK(order_frames(v, 0, 7) == v);
  CHECK(order_frames(v, 1, 7) == std::vector<int>{5, 4, 3, 2, 1, 0});
  const auto a = order_frames(v, 2, 7), b = order_frames(v, 2, 7), c = order_frames(v, 2, 8);
  CHECK(a == b);
  CHECK(std::is_permutation(a.begin(), a.end(), v.begin()));
  CHECK((a != v || c != v));
}

TEST_CASE("normalisation is (x/255 - mean)/std per channel in float32, CHW", "[preprocess]") {
  const int size = 2;
  std::vector<uint8_t> rgb{0, 128, 255, 10, 20, 30, 40, 50, 60, 255, 255, 255};
  std::vector<float> out(12);
  normalize_frames(rgb.data(), 1, size, out.data());
  for (int i = 0; i < 4; ++i)
    for (int c = 0; c < 3; ++c) {
      const float x = float(rgb[size_t(i) * 3 + size_t(c)]) / 255.0f;
      CHECK(out[size_t(c) * 4 + size_t(i)] == (x - kClipMean[c]) / kClipStd[c]);
    }
  CHECK(out[0] == Approx(-0.48145466 / 0.26862954).epsilon(1e-6));
}

TEST_CASE("an image is a one-frame video, a folder of frames is an already sampled video", "[preprocess][image]") {
  const auto dir = xclip::test::temp_dir("frames_folder");
  std::filesystem::create_directories(dir / "clip");
  std::vector<std::vector<uint8_t>> images;
  for (int i = 0; i < 5; ++i) {
    std::vector<uint8_t> img(size_t(64) * 48 * 3);
    for (size_t j = 0; j < img.size(); ++j) img[j] = uint8_t((j * 7 + size_t(i) * 50) & 255);
    char name[16];
    std::snprintf(name, sizeof name, "%04d.png", i);
    write_png((dir / "clip" / name).string(), img.data(), 64, 48);
    images.push_back(img);
  }
  std::ofstream(dir / "clip" / "notes.txt") << "ignored";
  FrameSampling s;
  s.size = 32;
  s.max_frames = 3;
  const VideoFrames folder = load_frames((dir / "clip").string(), s);
  CHECK(folder.frames == 3);
  CHECK(folder.sampled == 5);
  CHECK(folder.mask == std::vector<uint8_t>{1, 1, 1});
  // linspace(0, 4, 3) = 0, 2, 4; each crop equals the crop of that image alone.
  const std::vector<int> picked{0, 2, 4};
  for (int i = 0; i < 3; ++i) {
    std::vector<uint8_t> crop(32 * 32 * 3);
    clip_resize_crop(images[size_t(picked[size_t(i)])].data(), 64, 48, 64 * 3, 32, crop.data());
    CHECK(std::equal(crop.begin(), crop.end(), folder.frame(i)));
  }
  const VideoFrames one = load_frames((dir / "clip" / "0002.png").string(), s);
  CHECK(one.frames == 1);
  CHECK(one.mask == std::vector<uint8_t>{1, 0, 0});
  CHECK(std::equal(one.frame(0), one.frame(0) + 32 * 32 * 3, folder.frame(1)));
  const xclip::Tensor t = frames_to_tensor(one, 3);
  CHECK(t.shape() == xclip::Shape{3, 3, 32, 32});
  const xclip::Tensor m = mask_to_tensor(one);
  CHECK(m.to_vector<int64_t>() == std::vector<int64_t>{1, 0, 0});
  CHECK_THROWS_AS(load_frames((dir / "empty_missing").string(), s), xclip::Error);
}
