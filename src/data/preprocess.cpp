// Frame selection (slice_framepos), order (frame_order) and CLIP normalisation into tensors.
#include <algorithm>
#include <array>
#include <numeric>

#include "xclip/core/error.hpp"
#include "xclip/data/video.hpp"

namespace xclip::data {

std::vector<int> slice_frame_indices(int n, int max_frames, int slice_framepos) {
  XCLIP_CHECK(max_frames > 0, "slice_frame_indices: max_frames must be positive, got ", max_frames);
  XCLIP_CHECK(slice_framepos >= 0 && slice_framepos <= 2, "slice_frame_indices: slice_framepos must be 0, 1 or 2, got ",
              slice_framepos);
  std::vector<int> keep;
  if (n <= 0) return keep;
  if (n <= max_frames) {
    keep.resize(size_t(n));
    std::iota(keep.begin(), keep.end(), 0);
    return keep;
  }
  keep.resize(size_t(max_frames));
  if (slice_framepos == 0) {
    std::iota(keep.begin(), keep.end(), 0);
  } else if (slice_framepos == 1) {
    std::iota(keep.begin(), keep.end(), n - max_frames);
  } else {
    // numpy.linspace(0, n - 1, num=max_frames, dtype=int): start + i * step in float64, the last
    // value forced to the end point, then truncation toward zero.
    const double stop = double(n - 1);
    const double step = max_frames > 1 ? stop / double(max_frames - 1) : 0.0;
    for (int i = 0; i < max_frames; ++i) keep[size_t(i)] = int(double(i) * step);
    if (max_frames > 1) keep.back() = n - 1;
  }
  return keep;
}

std::vector<int> order_frames(std::vector<int> kept, int frame_order, uint64_t seed) {
  XCLIP_CHECK(frame_order >= 0 && frame_order <= 2, "order_frames: frame_order must be 0, 1 or 2, got ", frame_order);
  if (frame_order == 1) {
    std::reverse(kept.begin(), kept.end());
  } else if (frame_order == 2) {
    // Fisher-Yates with the project's generator: the same seed gives the same order everywhere.
    Generator gen(seed);
    for (size_t i = kept.size(); i > 1; --i) {
      const size_t j = size_t(gen.next_u64() % i);
      std::swap(kept[i - 1], kept[j]);
    }
  }
  return kept;
}

namespace {
// (v / 255 - mean) / std in float32, operation by operation like torchvision's ToTensor +
// Normalize; 256 entries per channel.
std::array<std::array<float, 256>, 3> normalisation_table() {
  std::array<std::array<float, 256>, 3> t{};
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) {
      const float x = float(v) / 255.0f;
      t[size_t(c)][size_t(v)] = (x - kClipMean[c]) / kClipStd[c];
    }
  return t;
}
}  // namespace

void normalize_frames(const uint8_t* rgb, int frames, int size, float* out_chw) {
  static const auto table = normalisation_table();
  const size_t plane = size_t(size) * size_t(size);
  for (int f = 0; f < frames; ++f) {
    const uint8_t* in = rgb + size_t(f) * plane * 3;
    float* out = out_chw + size_t(f) * plane * 3;
    for (size_t i = 0; i < plane; ++i) {
      out[i] = table[0][in[i * 3 + 0]];
      out[plane + i] = table[1][in[i * 3 + 1]];
      out[2 * plane + i] = table[2][in[i * 3 + 2]];
    }
  }
}

Tensor frames_to_tensor(const VideoFrames& v, int max_frames) {
  XCLIP_CHECK(max_frames >= v.frames, "frames_to_tensor: ", v.frames, " frames do not fit in max_frames ", max_frames);
  XCLIP_CHECK(v.rgb.size() == size_t(v.frames) * size_t(v.size) * size_t(v.size) * 3,
              "frames_to_tensor: rgb holds ", v.rgb.size(), " bytes, expected ", v.frames, " frames of ", v.size, "x",
              v.size, "x3");
  Tensor t = Tensor::zeros(Shape{max_frames, 3, v.size, v.size}, DType::f32);
  normalize_frames(v.rgb.data(), v.frames, v.size, t.data<float>());
  return t;
}

Tensor mask_to_tensor(const VideoFrames& v) {
  std::vector<int64_t> m(v.mask.begin(), v.mask.end());
  return Tensor::from_vector<int64_t>(m, Shape{int64_t(m.size())});
}

}  // namespace xclip::data
