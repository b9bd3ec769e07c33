// Pillow's BICUBIC resampling (libImaging/Resample.c, Pillow 9.x) for 8-bit RGB, bit-exact:
// per axis the anti-aliased cubic kernel (a = -0.5, support 2 * max(in/out, 1)), coefficients
// normalised in double and converted to 22-bit fixed point (round half away from zero), horizontal
// pass first into a uint8 intermediate, then vertical; each sum starts at 2^21 and is clipped
// after an arithmetic shift. Plus torchvision's Resize size rule and CenterCrop offsets.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "xclip/core/error.hpp"
#include "xclip/data/image.hpp"

namespace xclip::data {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS

// Pillow's bicubic_filter, same expression order (the coefficients must round identically).
double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Fixed-point coefficients for one axis: output i reads input [first[i], first[i] + count[i]).
struct AxisCoeffs {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> k;  // [out, ksize]
  const int32_t* row(int i) const { return k.data() + size_t(i) * size_t(ksize); }
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc with box (0, in_size).
AxisCoeffs precompute_coeffs(int in_size, int out_size) {
  const float in0 = 0.0f, in1 = float(in_size);
  const double scale = double(in1 - in0) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = 2.0 * filterscale;
  AxisCoeffs c;
  c.ksize = int(std::ceil(support)) * 2 + 1;
  c.first.resize(size_t(out_size));
  c.count.resize(size_t(out_size));
  c.k.assign(size_t(out_size) * size_t(c.ksize), 0);
  std::vector<double> w(size_t(c.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = int(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[size_t(x)] = bicubic_filter((x + xmin - center + 0.5) * ss);
      ww += w[size_t(x)];
    }
    int32_t* k = c.k.data() + size_t(xx) * size_t(c.ksize);
    for (int x = 0; x < xmax; ++x) {
      double v = ww != 0.0 ? w[size_t(x)] / ww : w[size_t(x)];
      k[x] = v < 0 ? int32_t(-0.5 + v * (1 << kPrecisionBits)) : int32_t(0.5 + v * (1 << kPrecisionBits));
    }
    c.first[size_t(xx)] = xmin;
    c.count[size_t(xx)] = xmax;
  }
  return c;
}

inline uint8_t clip8(int32_t v) {
  v >>= kPrecisionBits;
  return uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Horizontal pass for source rows [y_begin, y_end), output columns [x0, x0 + crop_w).
void resample_rows(const uint8_t* src, size_t src_stride, const AxisCoeffs& c, int x0, int crop_w, int y_begin,
                   int y_end, uint8_t* tmp) {
  for (int y = y_begin; y < y_end; ++y) {
    const uint8_t* in = src + size_t(y) * src_stride;
    uint8_t* out = tmp + size_t(y - y_begin) * size_t(crop_w) * 3;
    for (int xx = 0; xx < crop_w; ++xx) {
      const int i = x0 + xx;
      const int32_t* k = c.row(i);
      const uint8_t* p = in + size_t(c.first[size_t(i)]) * 3;
      int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int x = 0, n = c.count[size_t(i)]; x < n; ++x, p += 3) {
        s0 += p[0] * k[x];
        s1 += p[1] * k[x];
        s2 += p[2] * k[x];
      }
      out[xx * 3 + 0] = clip8(s0);
      out[xx * 3 + 1] = clip8(s1);
      out[xx * 3 + 2] = clip8(s2);
    }
  }
}

// Vertical pass: output rows [y0, y0 + crop_h) from intermediate rows starting at source row
// `tmp_first` (row stride `tmp_stride` bytes, `width3` = values per row).
void resample_columns(const uint8_t* tmp, size_t tmp_stride, int tmp_first, const AxisCoeffs& c, int y0,
                      int crop_h, int width3, uint8_t* out) {
  std::vector<int32_t> acc(static_cast<size_t>(width3));
  for (int yy = 0; yy < crop_h; ++yy) {
    const int i = y0 + yy;
    const int32_t* k = c.row(i);
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    const int first = c.first[size_t(i)] - tmp_first;
    for (int y = 0, n = c.count[size_t(i)]; y < n; ++y) {
      const uint8_t* in = tmp + size_t(first + y) * tmp_stride;
      const int32_t w = k[y];
      for (int j = 0; j < width3; ++j) acc[size_t(j)] += in[j] * w;
    }
    uint8_t* o = out + size_t(yy) * size_t(width3);
    for (int j = 0; j < width3; ++j) o[j] = clip8(acc[size_t(j)]);
  }
}

}  // namespace

void resized_size(int width, int height, int size, int* out_width, int* out_height) {
  XCLIP_CHECK(width > 0 && height > 0 && size > 0, "resize: bad sizes ", width, "x", height, " -> ", size);
  const int short_side = std::min(width, height), long_side = std::max(width, height);
  if (short_side == size) {
    *out_width = width;
    *out_height = height;
    return;
  }
  // Python: int(size * long / short), a true (double) division then truncation.
  const int new_long = int(double(int64_t(size) * long_side) / double(short_side));
  if (width <= height) {
    *out_width = size;
    *out_height = new_long;
  } else {
    *out_width = new_long;
    *out_height = size;
  }
}

int center_crop_offset(int length, int size) {
  // int(round((length - size) / 2.0)) with Python's round: halves go to the even neighbour.
  return int(std::nearbyint(double(length - size) / 2.0));
}

void pil_resize_bicubic_region(const uint8_t* src, int src_w, int src_h, size_t src_stride, int out_w, int out_h,
                               int x0, int y0, int crop_w, int crop_h, uint8_t* out) {
  XCLIP_CHECK(src_w > 0 && src_h > 0 && out_w > 0 && out_h > 0, "resize: empty image");
  XCLIP_CHECK(x0 >= 0 && y0 >= 0 && crop_w > 0 && crop_h > 0 && x0 + crop_w <= out_w && y0 + crop_h <= out_h,
              "resize: region ", crop_w, "x", crop_h, "+", x0, "+", y0, " outside ", out_w, "x", out_h);
  const AxisCoeffs cv = precompute_coeffs(src_h, out_h);
  // Source rows the vertical pass reads for the wanted output rows.
  const int row_first = cv.first[size_t(y0)];
  const int row_last = cv.first[size_t(y0 + crop_h - 1)] + cv.count[size_t(y0 + crop_h - 1)];
  const int width3 = crop_w * 3;

  // Pillow skips a pass whose size does not change; its identity coefficients would give the same
  // bytes, so skipping is only faster.
  std::vector<uint8_t> tmp;
  const uint8_t* inter = nullptr;
  size_t inter_stride = 0;
  int inter_first = 0;
  if (out_w != src_w) {
    const AxisCoeffs ch = precompute_coeffs(src_w, out_w);
    tmp.resize(size_t(row_last - row_first) * size_t(width3));
    resample_rows(src, src_stride, ch, x0, crop_w, row_first, row_last, tmp.data());
    inter = tmp.data();
    inter_stride = size_t(width3);
    inter_first = row_first;
  } else {
    inter = src + size_t(x0) * 3;
    inter_stride = src_stride;
    inter_first = 0;
  }
  if (out_h != src_h) {
    resample_columns(inter, inter_stride, inter_first, cv, y0, crop_h, width3, out);
  } else {
    for (int yy = 0; yy < crop_h; ++yy)
      std::memcpy(out + size_t(yy) * size_t(width3), inter + size_t(y0 + yy - inter_first) * inter_stride,
                  size_t(width3));
  }
}

void clip_resize_crop(const uint8_t* src, int src_w, int src_h, size_t src_stride, int size, uint8_t* out) {
  int rw = 0, rh = 0;
  resized_size(src_w, src_h, size, &rw, &rh);
  XCLIP_CHECK(rw >= size && rh >= size, "centre crop: image ", rw, "x", rh, " smaller than ", size);
  const int left = center_crop_offset(rw, size), top = center_crop_offset(rh, size);
  pil_resize_bicubic_region(src, src_w, src_h, src_stride, rw, rh, left, top, size, size, out);
}

}  // namespace xclip::data
