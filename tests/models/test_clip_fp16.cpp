// The official-fp16 emulation (spec §3.1): which tensors are fp16, the rounding helper, and the
// encoders' outputs in that mode. Parity with PyTorch's emulation is in test_clip_parity.cpp.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "models/clip_test_util.hpp"
#include "xclip/ops.hpp"

using namespace xclip;
using models::Clip;
using models::ClipPrecision;

namespace {

bool all_f16_values(const Tensor& t) {
  for (float v : t.to_vector<float>())
    if (f16_to_float(float_to_f16(v)) != v) return false;
  return true;
}

double max_relative_difference(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return diff / scale;
}

}  // namespace

TEST_CASE("round_to_f16 rounds to the nearest fp16 value and passes the gradient through", "[models][fp16]") {
  const float inf = std::numeric_limits<float>::infinity();
  Tensor x = Tensor::from_vector<float>({1.0f, 1.0f + 0x1p-11f, 1.0f + 0x1.8p-11f, 0.1f, 65504.0f, 65520.0f, -1e6f,
                                         0x1p-25f, 0x1.8p-24f, -inf},
                                        Shape{10});
  x.set_requires_grad(true);
  Tensor y = models::round_to_f16(x);
  const std::vector<float> expected = {1.0f,   1.0f, /* tie to even */ 1.0f + 0x1p-10f, 0.0999755859375f, 65504.0f,
                                       inf,    -inf, 0.0f /* tie to even 0 */, 0x1p-23f /* subnormal */, -inf};
  CHECK(y.to_vector<float>() == expected);
  ops::sum_all(ops::mul(y, Tensor::arange(10))).backward();
  CHECK(x.grad().to_vector<float>() == Tensor::arange(10).to_vector<float>());
}

TEST_CASE("exactly the tensors convert_weights makes fp16 are marked fp16", "[models][fp16]") {
  Clip clip(test::tiny_clip_config());
  std::vector<std::string> half;
  for (auto& [name, _] : clip.named_parameters())
    if (models::is_official_fp16_parameter(name)) half.push_back(name);
  // Per block: in_proj weight+bias, out_proj weight+bias, c_fc weight+bias, c_proj weight+bias.
  CHECK(half.size() == 3 + 8 * (2 + 2));
  for (const char* name : {"visual.conv1.weight", "visual.proj", "text_projection",
                           "visual.transformer.resblocks.1.attn.in_proj_bias", "transformer.resblocks.0.mlp.c_proj.weight",
                           "transformer.resblocks.1.attn.out_proj.bias"}) {
    INFO(name);
    CHECK(models::is_official_fp16_parameter(name));
  }
  for (const char* name : {"visual.class_embedding", "visual.positional_embedding", "positional_embedding",
                           "token_embedding.weight", "logit_scale", "ln_final.weight", "visual.ln_pre.bias",
                           "visual.transformer.resblocks.0.ln_1.weight", "transformer.resblocks.1.ln_2.bias",
                           // X-CLIP's temporal encoder is fp32 although its blocks look like CLIP's:
                           "transformerClip.resblocks.0.attn.in_proj_weight"}) {
    INFO(name);
    CHECK_FALSE(models::is_official_fp16_parameter(name));
  }
}

TEST_CASE("round_official_fp16_parameters rounds the converted tensors only", "[models][fp16]") {
  Clip clip(test::tiny_clip_config(), ClipPrecision::official_fp16);
  test::randomize(clip, 3);
  nn::NamedTensorList before;
  for (auto& [n, p] : clip.named_parameters()) before.emplace_back(n, p.clone());
  clip.round_official_fp16_parameters();
  for (size_t i = 0; i < before.size(); ++i) {
    const auto& [name, old] = before[i];
    INFO(name);
    const Tensor now = clip.parameter(name);
    if (models::is_official_fp16_parameter(name)) {
      CHECK(now.to_vector<float>() == old.to(DType::f16).to(DType::f32).to_vector<float>());
    } else {
      CHECK(now.to_vector<float>() == old.to_vector<float>());
    }
  }
}

TEST_CASE("official_fp16 outputs are fp16 values close to the f32 model's", "[models][fp16]") {
  const models::ClipConfig c = test::tiny_clip_config();
  Clip f32(c), half(c, ClipPrecision::official_fp16), half_rounded(c, ClipPrecision::official_fp16);
  test::randomize(f32, 9);
  half.load_state_dict(f32.state_dict());
  half_rounded.load_state_dict(f32.state_dict());
  half_rounded.round_official_fp16_parameters();
  Generator g(4);
  Tensor frames = Tensor::randn(Shape{2, 3, 8, 8}, g);
  Tensor ids = test::tiny_ids(c.text.vocab_size, 6);

  models::ImageEncoding img = half.encode_image_with_tokens(frames);
  models::TextEncoding txt = half.encode_text(ids);
  CHECK(all_f16_values(img.tokens));
  CHECK(all_f16_values(txt.words));
  // Rounding happens where weights are used, so pre-rounded parameters change nothing.
  CHECK(half_rounded.encode_image_with_tokens(frames).tokens.to_vector<float>() == img.tokens.to_vector<float>());
  CHECK(half_rounded.encode_text(ids).words.to_vector<float>() == txt.words.to_vector<float>());
  // fp16 keeps ~3 decimal digits: a few 1e-3 relative after two blocks, and not identical to f32.
  const double di = max_relative_difference(img.tokens, f32.encode_image_with_tokens(frames).tokens);
  const double dt = max_relative_difference(txt.words, f32.encode_text(ids).words);
  INFO("image " << di << ", text " << dt);
  CHECK(di > 0);
  CHECK(di < 1e-2);
  CHECK(dt > 0);
  CHECK(dt < 1e-2);
  // And it trains: gradients reach the (f32) parameters through the rounding.
  ops::sum_all(half.forward(frames, ids)).backward();
  CHECK(half.visual.conv1.weight.grad().defined());
  CHECK(half.transformer.resblocks[0]->attn.in_proj_weight.grad().defined());
}
