// RGB images: loading (stb_image), PNG writing, and the CLIP preprocessing up to uint8:
// torchvision Resize(size, BICUBIC) on a PIL image (Pillow's anti-aliased bicubic, a = -0.5,
// 22-bit fixed point, horizontal pass first through a uint8 intermediate) and CenterCrop(size).
// Spec: xclip-spec-detailed.md §7.5.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace xclip::data {

struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // [height, width, 3], rows packed

  const uint8_t* row(int y) const { return pixels.data() + size_t(y) * size_t(width) * 3; }
};

// Reads jpg/png/bmp/... through stb_image as RGB. Throws xclip::Error naming the file.
RgbImage load_image(const std::string& path);
// True when the extension names an image format stb_image reads.
bool is_image_path(const std::string& path);

// Writes an 8-bit RGB PNG atomically (temporary name, then rename). Throws naming the file.
void write_png(const std::string& path, const uint8_t* rgb, int width, int height);
// JPEG bytes of packed RGB [height, width, 3] (the search index's thumbnails); throws when encoding fails.
std::vector<uint8_t> encode_jpeg(const uint8_t* rgb, int width, int height, int quality = 85);

// torchvision's output size for Resize(size) on a (width, height) image: the shorter side becomes
// `size`, the longer int(size * long / short). Returns the input size when the short side is already
// `size` (torchvision then returns the image unchanged).
void resized_size(int width, int height, int size, int* out_width, int* out_height);

// The crop box of CenterCrop(size): top = int(round((h - size) / 2)), Python rounding (half to even).
int center_crop_offset(int length, int size);

// Pillow's Image.resize(BICUBIC) for 8-bit RGB: a region [x0, x0+crop_w) x [y0, y0+crop_h) of the
// (out_w x out_h) resized image, computed without the rest (each output pixel depends only on its
// own coefficients, so the region is bit-identical to cropping the full resize).
// `src` is [src_h, src_w, 3] with row stride `src_stride` bytes; `out` is [crop_h, crop_w, 3].
void pil_resize_bicubic_region(const uint8_t* src, int src_w, int src_h, size_t src_stride,
                               int out_w, int out_h, int x0, int y0, int crop_w, int crop_h,
                               uint8_t* out);

// Resize(size, BICUBIC) + CenterCrop(size) of one RGB frame: writes [size, size, 3] to `out`.
// Handles a short side already equal to `size` (no resampling, crop only).
void clip_resize_crop(const uint8_t* src, int src_w, int src_h, size_t src_stride, int size,
                      uint8_t* out);

}  // namespace xclip::data
