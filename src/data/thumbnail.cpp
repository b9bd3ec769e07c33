// JPEG thumbnails of decoded videos (data/thumbnail.hpp); the encoder is image_io.cpp's encode_jpeg.
#include "xclip/data/thumbnail.hpp"

#include <algorithm>

#include "xclip/data/image.hpp"

#include "xclip/core/error.hpp"
#include "xclip/io/file_bytes.hpp"


namespace xclip::data {
namespace {

void write_bytes(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  io::write_file_atomically(path.string(), {{bytes.data(), bytes.size()}});
}

}  // namespace

std::vector<uint8_t> shrink_square(const uint8_t* rgb, int size, int target) {
  if (target >= size) return std::vector<uint8_t>(rgb, rgb + size_t(size) * size_t(size) * 3);
  std::vector<uint8_t> out(size_t(target) * size_t(target) * 3);
  for (int y = 0; y < target; ++y)
    for (int x = 0; x < target; ++x) {
      // The source pixels [y0, y1) × [x0, x1) that fall into this output pixel, averaged.
      const int y0 = y * size / target, y1 = std::max(y0 + 1, (y + 1) * size / target);
      const int x0 = x * size / target, x1 = std::max(x0 + 1, (x + 1) * size / target);
      for (int c = 0; c < 3; ++c) {
        int sum = 0;
        for (int yy = y0; yy < y1; ++yy)
          for (int xx = x0; xx < x1; ++xx) sum += rgb[(size_t(yy) * size_t(size) + size_t(xx)) * 3 + size_t(c)];
        out[(size_t(y) * size_t(target) + size_t(x)) * 3 + size_t(c)] = uint8_t(sum / ((y1 - y0) * (x1 - x0)));
      }
    }
  return out;
}

void write_video_thumbnails(const VideoFrames& v, const std::filesystem::path& thumb,
                            const std::filesystem::path& strip, int thumb_px, int strip_px) {
  XCLIP_CHECK(v.frames > 0 && v.size > 0, thumb.string(), ": no frames to make a thumbnail of");
  const int t = std::min(thumb_px, v.size);
  write_bytes(thumb, encode_jpeg(shrink_square(v.frame(v.frames / 2), v.size, thumb_px).data(), t, t));
  const int s = std::min(strip_px, v.size), width = s * v.frames;
  std::vector<uint8_t> row(size_t(width) * size_t(s) * 3);
  for (int f = 0; f < v.frames; ++f) {
    const std::vector<uint8_t> small = shrink_square(v.frame(f), v.size, strip_px);
    for (int y = 0; y < s; ++y)
      std::copy_n(small.data() + size_t(y) * size_t(s) * 3, size_t(s) * 3,
                  row.data() + (size_t(y) * size_t(width) + size_t(f) * size_t(s)) * 3);
  }
  write_bytes(strip, encode_jpeg(row.data(), width, s));
}

}  // namespace xclip::data
