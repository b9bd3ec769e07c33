// CLIP against PyTorch: the small CLIP of tools/reference/clip_parity.py (OpenAI module layout,
// 16-wide heads), its committed weights and inputs, and the outputs PyTorch 1.13 computed, in
// f32 and in the official-fp16 emulation (tests/fixtures/models/clip_tiny_*.safetensors).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <memory>

#include "test_util.hpp"
#include "xclip/io/safetensors.hpp"
#include "xclip/models/clip.hpp"

using namespace xclip;
using namespace xclip::models;

namespace {

io::NamedTensors fixture(const char* name) {
  return io::load_safetensors((test::source_root() / "tests/fixtures/models" / name).string());
}

// max |ours − expected| / max |expected|, the measure verify uses.
double relative_error(const Tensor& ours, const Tensor& expected) {
  REQUIRE(ours.shape() == expected.shape());
  const std::vector<double> a = ours.to_vector<double>(), e = expected.to_vector<double>();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    diff = std::max(diff, std::abs(a[i] - e[i]));
    scale = std::max(scale, std::abs(e[i]));
  }
  return diff / scale;
}

std::unique_ptr<Clip> load_clip(ClipPrecision precision) {
  const io::NamedTensors w = fixture("clip_tiny_weights.safetensors");
  auto clip = std::make_unique<Clip>(infer_clip_config(w.list(), "", 16), precision);
  nn::NamedTensorList state;
  for (const auto& [name, t] : w) state.emplace_back(name, name == "logit_scale" ? t.view(Shape{}) : t);
  clip->load_state_dict(state);
  if (precision == ClipPrecision::official_fp16) clip->round_official_fp16_parameters();
  return clip;
}

void check_outputs(const Clip& clip, const std::string& prefix, double tolerance) {
  const io::NamedTensors io = fixture("clip_tiny_io.safetensors");
  const ImageEncoding image = clip.encode_image_with_tokens(io.at("images"));
  const TextEncoding text = clip.encode_text(io.at("input_ids"));
  const std::pair<const char*, Tensor> outputs[] = {
      {"image_features", image.features}, {"image_tokens", image.tokens},
      {"sentence", text.sentence},        {"words", text.words}};
  for (const auto& [name, ours] : outputs) {
    const double error = relative_error(ours, io.at(prefix + name));
    INFO(prefix << name << ": relative error " << error);
    CHECK(error <= tolerance);
  }
}

}  // namespace

TEST_CASE("CLIP encoders equal PyTorch's in f32", "[models][clip][reference]") {
  const auto clip = load_clip(ClipPrecision::f32);
  check_outputs(*clip, "", 1e-5);  // measured ≤ 5.3e-7
  const io::NamedTensors io = fixture("clip_tiny_io.safetensors");
  CHECK(relative_error(clip->forward(io.at("images"), io.at("input_ids")), io.at("logits_per_image")) <= 1e-5);
}

TEST_CASE("CLIP encoders equal PyTorch's fp16 emulation in the official fp16 regime", "[models][clip][fp16][reference]") {
  // Measured: 0 (bit for bit) on the CPU GEMM of this repository. fp16 rounds every op, so a GEMM
  // that sums in another order may round a last bit apart: up to two fp16 ulps (2 · 2^-11) pass.
  check_outputs(*load_clip(ClipPrecision::official_fp16), "fp16.", 1e-3);
}
