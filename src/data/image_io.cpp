// Image files through stb_image (reading) and stb_image_write (PNG, JPEG), compiled here with static
// linkage so no other object can clash with these copies.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>

#include "xclip/core/error.hpp"
#include "xclip/data/image.hpp"
#include "xclip/io/file_bytes.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#include <stb_image.h>
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace xclip::data {
namespace {

std::string lower_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext;
}

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(context);
  const auto* p = static_cast<const uint8_t*>(data);
  out->insert(out->end(), p, p + size);
}

}  // namespace

bool is_image_path(const std::string& path) {
  static const char* const kExtensions[] = {".jpg", ".jpeg", ".png", ".bmp", ".tga", ".gif", ".ppm", ".pgm", ".pnm"};
  const std::string ext = lower_extension(path);
  return std::any_of(std::begin(kExtensions), std::end(kExtensions), [&](const char* e) { return ext == e; });
}

RgbImage load_image(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) throw Error(format(path, ": cannot open image"));
  int w = 0, h = 0, channels = 0;
  stbi_uc* data = stbi_load_from_file(file, &w, &h, &channels, 3);
  std::fclose(file);
  if (!data) throw Error(format(path, ": cannot decode image (", stbi_failure_reason(), ")"));
  RgbImage img;
  img.width = w;
  img.height = h;
  img.pixels.assign(data, data + size_t(w) * size_t(h) * 3);
  stbi_image_free(data);
  if (w <= 0 || h <= 0) throw Error(format(path, ": image has no pixels"));
  return img;
}

void write_png(const std::string& path, const uint8_t* rgb, int width, int height) {
  XCLIP_CHECK(width > 0 && height > 0, path, ": cannot write an empty PNG (", width, "x", height, ")");
  std::vector<uint8_t> bytes;
  if (!stbi_write_png_to_func(append_bytes, &bytes, width, height, 3, rgb, width * 3))
    throw Error(format(path, ": PNG encoding failed"));
  io::write_file_atomically(path, {{bytes.data(), bytes.size()}});
}

std::vector<uint8_t> encode_jpeg(const uint8_t* rgb, int width, int height, int quality) {
  XCLIP_CHECK(width > 0 && height > 0, "JPEG: empty image (", width, "x", height, ")");
  std::vector<uint8_t> bytes;
  if (!stbi_write_jpg_to_func(append_bytes, &bytes, width, height, 3, rgb, quality))
    throw Error(format("JPEG encoding of a ", width, "x", height, " image failed"));
  return bytes;
}

}  // namespace xclip::data
