// ViT-B/32 and ViT-B/16 at their real sizes (random weights): the module has exactly the OpenAI
// names and shapes, and one frame / one caption go through. The wall time is printed for the
// record; nothing is asserted about it (speed is measured by bench/, docs/BENCHMARKS.md).
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <iostream>

#include "models/clip_test_util.hpp"
#include "xclip/autograd.hpp"
#include "xclip/ops.hpp"

using namespace xclip;
using models::Clip;
using models::ClipConfig;

namespace {

bool all_finite(const Tensor& t) {
  for (float v : t.to_vector<float>())
    if (!std::isfinite(v)) return false;
  return true;
}

template <class F>
double seconds(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void check_layout(const Clip& clip, const ClipConfig& c) {
  const nn::NamedTensorList sd = clip.state_dict();
  const models::ShapeList expected = test::openai_clip_shapes(c);
  REQUIRE(sd.size() == expected.size());
  for (size_t i = 0; i < sd.size(); ++i) {
    INFO(expected[i].first);
    CHECK(sd[i].first == expected[i].first);
    CHECK(sd[i].second.shape() == expected[i].second);
  }
}

}  // namespace

TEST_CASE("ViT-B/32 at real size encodes one frame and one 32-token caption", "[models][clip][real]") {
  const ClipConfig c = ClipConfig::vit_b32();
  Clip clip(c);
  check_layout(clip, c);
  CHECK(clip.num_parameters() == 151277313);  // OpenAI ViT-B/32
  Generator g(1);
  clip.init_random(g);
  Tensor frame = Tensor::randn(Shape{1, 3, 224, 224}, g);
  std::vector<int64_t> ids(32, 0);
  for (int i = 0; i < 12; ++i) ids[size_t(i)] = i == 0 ? 49406 : i == 11 ? 49407 : 1000 + 37 * i;
  NoGradGuard no_grad;
  Tensor image;
  models::TextEncoding text;
  const double t_image = seconds([&] { image = clip.encode_image(frame); });
  const double t_text = seconds([&] { text = clip.encode_text(Tensor::from_vector(ids, Shape{1, 32})); });
  std::cout << "ViT-B/32 f32 CPU: encode_image 1 frame " << t_image * 1e3 << " ms, encode_text 1x32 tokens "
            << t_text * 1e3 << " ms\n";
  CHECK(image.shape() == Shape{1, 512});
  CHECK(text.words.shape() == Shape{1, 32, 512});
  CHECK(all_finite(image));
  CHECK(all_finite(text.words));
}

TEST_CASE("ViT-B/16 at real size encodes one frame", "[models][clip][real]") {
  const ClipConfig c = ClipConfig::vit_b16();
  Clip clip(c);
  check_layout(clip, c);
  CHECK(clip.num_parameters() == 149620737);  // OpenAI ViT-B/16
  Generator g(2);
  clip.init_random(g);
  Tensor frame = Tensor::randn(Shape{1, 3, 224, 224}, g);
  NoGradGuard no_grad;
  models::ImageEncoding image;
  const double t = seconds([&] { image = clip.encode_image_with_tokens(frame); });
  std::cout << "ViT-B/16 f32 CPU: encode_image 1 frame (197 tokens) " << t * 1e3 << " ms\n";
  CHECK(image.tokens.shape() == Shape{1, 197, 512});
  CHECK(all_finite(image.tokens));
}
