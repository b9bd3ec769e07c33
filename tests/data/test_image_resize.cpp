// The PIL bicubic resize + torchvision centre crop against Pillow 9.4 outputs on synthetic images
// (tests/fixtures/data/resize, made by tools/reference/make_resize_fixtures.py): bit-exact.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <fstream>

#include "test_util.hpp"
#include "xclip/core/error.hpp"
#include "xclip/data/image.hpp"
#include "xclip/io/json_file.hpp"

using namespace xclip::data;

namespace {

// tools/reference/make_resize_fixtures.py pattern(), bit for bit.
std::vector<uint8_t> pattern(int width, int height) {
  std::vector<uint8_t> out(size_t(width) * size_t(height) * 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) {
        const uint64_t ux = uint64_t(x), uy = uint64_t(y);
        uint64_t h = (ux * 73856093ull) ^ (uy * 19349663ull) ^ uint64_t(83492791ll * (c + 1));
        h = (h * 2654435761ull) & 0xFFFFFFFFull;
        const int64_t noise = int64_t(h >> 24);
        int64_t grad = int64_t(ux * 255 / uint64_t(std::max(width - 1, 1)));
        if (c == 1) grad = int64_t(uy * 255 / uint64_t(std::max(height - 1, 1)));
        const int64_t edge = ((ux / 7) + (uy / 5)) % 2 == 0 ? 230 : 20;
        const int64_t region = (int64_t(x) * 3 + int64_t(y) * (c + 2)) % 3;
        const int64_t value = region == 0 ? grad : region == 1 ? edge : noise;
        out[(size_t(y) * size_t(width) + size_t(x)) * 3 + size_t(c)] = uint8_t(value);
      }
  return out;
}

std::filesystem::path fixture_dir() { return xclip::test::source_root() / "tests/fixtures/data/resize"; }

nlohmann::json fixture_cases() {
  return xclip::io::read_json_file(fixture_dir() / "cases.json", "resize cases")["cases"];
}

size_t count_differences(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  REQUIRE(a.size() == b.size());
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
  return n;
}

}  // namespace

TEST_CASE("resize: Resize(size, BICUBIC) + CenterCrop equals Pillow's bytes", "[image][resize]") {
  int checked = 0;
  for (const auto& c : fixture_cases()) {
    if (!c.contains("size")) continue;
    const std::string name = c["name"];
    const int w = c["width"], h = c["height"], size = c["size"];
    const RgbImage ref = load_image((fixture_dir() / (name + ".png")).string());
    REQUIRE(ref.width == size);
    REQUIRE(ref.height == size);
    const std::vector<uint8_t> src = pattern(w, h);
    std::vector<uint8_t> out(size_t(size) * size_t(size) * 3);
    clip_resize_crop(src.data(), w, h, size_t(w) * 3, size, out.data());
    INFO(name);
    CHECK(count_differences(out, ref.pixels) == 0);
    ++checked;
  }
  CHECK(checked >= 7);
}

TEST_CASE("resize: full Image.resize(BICUBIC) outputs equal Pillow's bytes", "[image][resize]") {
  int checked = 0;
  for (const auto& c : fixture_cases()) {
    if (!c.contains("out_width")) continue;
    const std::string name = c["name"];
    const int w = c["width"], h = c["height"], ow = c["out_width"], oh = c["out_height"];
    const RgbImage ref = load_image((fixture_dir() / (name + ".full.png")).string());
    REQUIRE(ref.width == ow);
    REQUIRE(ref.height == oh);
    const std::vector<uint8_t> src = pattern(w, h);
    std::vector<uint8_t> out(size_t(ow) * size_t(oh) * 3);
    pil_resize_bicubic_region(src.data(), w, h, size_t(w) * 3, ow, oh, 0, 0, ow, oh, out.data());
    INFO(name);
    CHECK(count_differences(out, ref.pixels) == 0);
    ++checked;
  }
  CHECK(checked >= 4);
}

TEST_CASE("resize: a region equals the same window of the full resize", "[image][resize]") {
  const int w = 91, h = 57, ow = 40, oh = 70;
  const std::vector<uint8_t> src = pattern(w, h);
  std::vector<uint8_t> full(size_t(ow) * oh * 3), part(size_t(13) * 21 * 3);
  pil_resize_bicubic_region(src.data(), w, h, size_t(w) * 3, ow, oh, 0, 0, ow, oh, full.data());
  pil_resize_bicubic_region(src.data(), w, h, size_t(w) * 3, ow, oh, 9, 30, 13, 21, part.data());
  for (int y = 0; y < 21; ++y)
    for (int x = 0; x < 13 * 3; ++x) REQUIRE(part[size_t(y) * 39 + size_t(x)] == full[size_t(30 + y) * ow * 3 + 27 + size_t(x)]);
}

TEST_CASE("resize: torchvision's output size and crop offsets", "[image][resize]") {
  int w = 0, h = 0;
  resized_size(320, 240, 224, &w, &h);
  CHECK((w == 298 && h == 224));  // int(224 * 320 / 240) = int(298.67)
  resized_size(240, 426, 224, &w, &h);
  CHECK((w == 224 && h == 397));  // int(224 * 426 / 240) = int(397.6)
  resized_size(176, 144, 224, &w, &h);
  CHECK((w == 273 && h == 224));
  resized_size(300, 224, 224, &w, &h);
  CHECK((w == 300 && h == 224));  // short side already 224: unchanged
  resized_size(500, 500, 224, &w, &h);
  CHECK((w == 224 && h == 224));
  CHECK(center_crop_offset(298, 224) == 37);
  CHECK(center_crop_offset(273, 224) == 24);  // round(24.5) = 24 (half to even)
  CHECK(center_crop_offset(275, 224) == 26);  // round(25.5) = 26
  CHECK(center_crop_offset(224, 224) == 0);
}

TEST_CASE("image files: PNG written atomically reads back identical, a bad image names the file", "[image]") {
  const auto dir = xclip::test::temp_dir("image_io");
  const std::vector<uint8_t> src = pattern(31, 17);
  const std::string path = (dir / "p.png").string();
  write_png(path, src.data(), 31, 17);
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  const RgbImage back = load_image(path);
  CHECK(back.width == 31);
  CHECK(back.height == 17);
  CHECK(back.pixels == src);
  const std::string bad = (dir / "bad.jpg").string();
  std::ofstream(bad) << "not an image";
  try {
    load_image(bad);
    FAIL("no error for a corrupt image");
  } catch (const xclip::Error& e) {
    CHECK(std::string(e.what()).find(bad) != std::string::npos);
  }
  CHECK(is_image_path("a/b/C.JPG"));
  CHECK(is_image_path("x.png"));
  CHECK_FALSE(is_image_path("x.mp4"));
}
