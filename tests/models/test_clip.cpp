// CLIP encoders: config inference (spec §1.1), state_dict names, loading errors, gradients,
// input checks. Parity with PyTorch is in test_clip_parity.cpp, the fp16 emulation in
// test_clip_fp16.cpp.
#include <catch2/catch.hpp>

#include "models/clip_test_util.hpp"
#include "xclip/gradcheck.hpp"
#include "xclip/ops.hpp"

using namespace xclip;
using models::Clip;
using models::ClipConfig;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

models::ShapeList without(models::ShapeList s, const std::string& name) {
  std::erase_if(s, [&](const auto& kv) { return kv.first == name; });
  return s;
}

models::ShapeList replaced(models::ShapeList s, const std::string& name, const Shape& shape) {
  for (auto& [n, sh] : s)
    if (n == name) sh = shape;
  return s;
}

}  // namespace

TEST_CASE("config of ViT-B/32 and ViT-B/16 is inferred from the state_dict shapes", "[models][clip]") {
  const ClipConfig b32 = models::infer_clip_config(test::openai_clip_shapes(ClipConfig::vit_b32()));
  CHECK(b32 == ClipConfig::vit_b32());
  CHECK(b32.vision.width == 768);
  CHECK(b32.vision.layers == 12);
  CHECK(b32.vision.heads == 12);
  CHECK(b32.vision.patch == 32);
  CHECK(b32.vision.grid == 7);
  CHECK(b32.vision.resolution == 224);
  CHECK(b32.vision.tokens() == 50);
  CHECK(b32.embed_dim == 512);
  CHECK(b32.text.width == 512);
  CHECK(b32.text.layers == 12);
  CHECK(b32.text.heads == 8);
  CHECK(b32.text.context_length == 77);
  CHECK(b32.text.vocab_size == 49408);

  const ClipConfig b16 = models::infer_clip_config(test::openai_clip_shapes(ClipConfig::vit_b16()));
  CHECK(b16 == ClipConfig::vit_b16());
  CHECK(b16.vision.patch == 16);
  CHECK(b16.vision.grid == 14);
  CHECK(b16.vision.tokens() == 197);
  CHECK(b16.vision.resolution == 224);
  CHECK(b16.text == b32.text);
}

TEST_CASE("config inference follows any width, depth, patch and resolution, under a prefix", "[models][clip]") {
  ClipConfig c;
  c.embed_dim = 256;
  c.vision = models::ClipVisionConfig{1024, 3, 16, 14, 24, 336};  // ViT-L/14@336-like, 3 layers
  c.text = models::ClipTextConfig{384, 5, 6, 32, 1000};
  models::ShapeList shapes;
  for (auto& [n, s] : test::openai_clip_shapes(c)) shapes.emplace_back("clip." + n, s);
  shapes.emplace_back("frame_position_embeddings.weight", Shape{77, 512});  // X-CLIP's own tensors
  shapes.emplace_back("transformerClip.resblocks.0.attn.in_proj_weight", Shape{1536, 512});
  CHECK(models::infer_clip_config(shapes, "clip.") == c);
  // Narrower heads (test models): heads = width / head_width.
  const ClipConfig narrow = models::infer_clip_config(test::openai_clip_shapes(c), "", 16);
  CHECK(narrow.vision.heads == 64);
  CHECK(narrow.text.heads == 24);
}

TEST_CASE("config inference names the missing or inconsistent tensor", "[models][clip][errors]") {
  const models::ShapeList b32 = test::openai_clip_shapes(ClipConfig::vit_b32());
  CHECK_THAT(error_of([&] { models::infer_clip_config(without(b32, "visual.proj")); }),
             Catch::Contains("'visual.proj' is missing: not a ViT CLIP"));
  CHECK_THAT(error_of([&] { models::infer_clip_config(without(b32, "ln_final.weight")); }),
             Catch::Contains("tensor 'ln_final.weight' is missing"));
  CHECK_THAT(error_of([&] { models::infer_clip_config(replaced(b32, "visual.positional_embedding", Shape{51, 768})); }),
             Catch::Contains("'visual.positional_embedding' has shape [51, 768]"));
  CHECK_THAT(error_of([&] { models::infer_clip_config(replaced(b32, "visual.conv1.weight", Shape{768, 3, 32})); }),
             Catch::Contains("'visual.conv1.weight' has shape [768, 3, 32]"));
  CHECK_THAT(error_of([&] { models::infer_clip_config(b32, "clip."); }), Catch::Contains("no tensor name starts with 'clip.'"));
  CHECK_THAT(error_of([&] { models::infer_clip_config(replaced(b32, "ln_final.weight", Shape{32})); }),
             Catch::Contains("text width 32 cannot be split into heads of width 64"));
}

TEST_CASE("Clip parameters carry the OpenAI state_dict names, order and shapes", "[models][clip]") {
  const ClipConfig c = test::tiny_clip_config();
  Clip clip(c);
  const nn::NamedTensorList sd = clip.state_dict();
  const models::ShapeList expected = test::openai_clip_shapes(c);
  REQUIRE(sd.size() == expected.size());
  for (size_t i = 0; i < sd.size(); ++i) {
    INFO("tensor " << i);
    CHECK(sd[i].first == expected[i].first);
    CHECK(sd[i].second.shape() == expected[i].second);
  }
  CHECK(models::infer_clip_config(sd, "", 4) == c);
  // Inside X-CLIP the module sits under "clip.".
  CHECK(clip.state_dict("clip.").front().first == "clip.positional_embedding");
  CHECK(clip.state_dict("clip.").back().first == "clip.ln_final.bias");
}

TEST_CASE("load_state_dict copies a state dict and reports a wrong shape", "[models][clip][errors]") {
  const ClipConfig c = test::tiny_clip_config();
  Clip a(c), b(c);
  test::randomize(a, 5);
  nn::NamedTensorList sd = a.state_dict("clip.");
  b.load_state_dict(sd, true, "clip.");
  for (auto& [name, p] : b.named_parameters()) {
    INFO(name);
    CHECK(p.to_vector<float>() == a.parameter(name).to_vector<float>());
  }

  Clip fresh(c);
  for (auto& [name, t] : sd)
    if (name == "clip.visual.proj") t = Tensor::zeros(Shape{8, 7});
  const std::string msg = error_of([&] { fresh.load_state_dict(sd, true, "clip."); });
  CHECK_THAT(msg, Catch::Contains("load_state_dict: 1 problem(s)"));
  CHECK_THAT(msg, Catch::Contains("shape mismatch: clip.visual.proj expected [8, 6], found [8, 7]"));
  CHECK(fresh.token_embedding.weight.to_vector<float>() == std::vector<float>(20 * 8, 0.0f));  // nothing copied
}

TEST_CASE("encoders return the documented shapes, the sentence is the EOT row of the words", "[models][clip]") {
  const ClipConfig c = test::tiny_clip_config();
  Clip clip(c);
  test::randomize(clip, 7);
  Generator g(1);
  Tensor frames = Tensor::randn(Shape{3, 3, 8, 8}, g);
  Tensor ids = test::tiny_ids(c.text.vocab_size, 6);  // EOT at positions 3 and 5
  CHECK(clip.encode_image(frames).shape() == Shape{3, 6});
  models::ImageEncoding img = clip.encode_image_with_tokens(frames);
  CHECK(img.tokens.shape() == Shape{3, 5, 6});
  CHECK(img.features.to_vector<float>() == ops::narrow(img.tokens, 1, 0, 1).to_vector<float>());
  CHECK(img.features.to_vector<float>() == clip.encode_image(frames).to_vector<float>());

  models::TextEncoding t = clip.encode_text(ids);
  CHECK(t.words.shape() == Shape{2, 6, 6});
  CHECK(t.sentence.shape() == Shape{2, 6});
  CHECK(t.sentence.to_vector<float>() ==
        ops::concat({ops::narrow(ops::narrow(t.words, 0, 0, 1), 1, 3, 1), ops::narrow(ops::narrow(t.words, 0, 1, 1), 1, 5, 1)}, 0)
            .to_vector<float>());
  // Causal: a shorter input (positional_embedding[:4], 4×4 mask) gives the same first rows.
  models::TextEncoding short_t = clip.encode_text(ops::narrow(ids, 1, 0, 4));
  const auto full = ops::narrow(t.words, 1, 0, 4).to_vector<float>();
  const auto part = short_t.words.to_vector<float>();
  REQUIRE(full.size() == part.size());
  for (size_t i = 0; i < full.size(); ++i) CHECK(part[i] == Approx(full[i]).margin(1e-6));
}

TEST_CASE("a gradient reaches every CLIP parameter", "[models][clip]") {
  const ClipConfig c = test::tiny_clip_config();
  Clip clip(c);
  test::randomize(clip, 11);
  Generator g(2);
  Tensor frames = Tensor::randn(Shape{2, 3, 8, 8}, g);
  Tensor ids = test::tiny_ids(c.text.vocab_size, 6);
  // forward() uses logit_scale; the word features reach every text position.
  Tensor loss = ops::add(ops::sum_all(clip.forward(frames, ids)), ops::sum_all(clip.encode_text(ids).words));
  loss.backward();
  for (auto& [name, p] : clip.named_parameters()) {
    INFO(name);
    REQUIRE(p.grad().defined());
    double norm = 0;
    for (float v : p.grad().to_vector<float>()) norm += double(v) * v;
    CHECK(norm > 0);
  }
}

TEST_CASE("CLIP gradients match finite differences (float64, every parameter element)", "[models][clip][grad]") {
  const ClipConfig c = test::tiny_clip_config();
  Clip clip(c, models::ClipPrecision::f32, DType::f64);
  test::randomize(clip, 13);
  Generator g(3);
  Tensor frames = Tensor::randn(Shape{2, 3, 8, 8}, g, DType::f64);
  Tensor ids = test::tiny_ids(c.text.vocab_size, 6);
  auto fn = [&](const std::vector<Tensor>&) {
    Tensor tokens = clip.encode_image_with_tokens(frames).tokens;
    Tensor words = clip.encode_text(ids).words;
    Tensor logits = clip.forward(frames, ids);
    return ops::concat({ops::reshape(tokens, Shape{-1}), ops::reshape(words, Shape{-1}), ops::reshape(logits, Shape{-1})}, 0);
  };
  GradcheckResult r = gradcheck(fn, clip.parameters());
  INFO(r.report << "worst: " << r.worst);
  CHECK(r.ok);
  CHECK(r.max_error < 1e-6);
}

TEST_CASE("encoders reject malformed inputs with a clear error", "[models][clip][errors]") {
  const ClipConfig c = test::tiny_clip_config();
  Clip clip(c);
  CHECK_THAT(error_of([&] { clip.encode_image(Tensor::zeros(Shape{1, 3, 16, 16})); }),
             Catch::Contains("frames must be [N, 3, 8, 8], got f32[1, 3, 16, 16]"));
  CHECK_THAT(error_of([&] { clip.encode_image(Tensor::zeros(Shape{1, 3, 8, 8}, DType::f64)); }),
             Catch::Contains("frames are f64 but the model is f32"));
  CHECK_THAT(error_of([&] { clip.encode_text(Tensor::zeros(Shape{1, 7}, DType::i64)); }),
             Catch::Contains("1 <= L <= context length 6"));
  CHECK_THAT(error_of([&] { clip.encode_text(Tensor::full(Shape{1, 4}, 20, DType::i64)); }),
             Catch::Contains("token id 20 out of range for the vocabulary of 20"));
  CHECK_THAT(error_of([&] { clip.encode_text(Tensor::zeros(Shape{1, 4})); }), Catch::Contains("must be i64 or i32"));
  ClipConfig bad = c;
  bad.vision.heads = 3;
  CHECK_THAT(error_of([&] { Clip x(bad); }), Catch::Contains("widths must divide into heads"));
  CHECK_THAT(error_of([&] { Clip x(c, models::ClipPrecision::official_fp16, DType::f64); }),
             Catch::Contains("official fp16 emulation needs f32 parameters"));
}
