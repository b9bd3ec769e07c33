// The RetrievalModel model: initialisation from CLIP-only weights as the original from_pretrained, official
// state_dict names and a save/load round trip, the blocked evaluation path, input checks.
#include <catch2/catch.hpp>

#include "models/small_model_util.hpp"
#include "test_util.hpp"
#include "xclip/io/safetensors.hpp"
#include "xclip/models/heads/xclip_head.hpp"
#include "xclip/models/model.hpp"
#include "xclip/ops.hpp"

using namespace xclip;
using namespace xclip::models;

namespace {

nn::NamedTensorList random_clip_state(uint64_t seed) {
  Clip clip(test::small_clip_config());
  Generator g(seed);
  clip.init_random(g);
  // init_random leaves the LayerNorms at (1, 0) and biases at 0: spread them so copies are visible.
  NoGradGuard no_grad;
  for (auto& [name, p] : clip.named_parameters())
    if (name.find("ln_") != std::string::npos || name.find("bias") != std::string::npos)
      p.copy_(ops::add(p, Tensor::randn(p.shape(), g, p.dtype(), 0.0, 0.1)));
  return clip.state_dict();
}

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

}  // namespace

TEST_CASE("CLIP-only weights initialise X-CLIP as the original from_pretrained", "[models][xclip]") {
  const nn::NamedTensorList clip_state = random_clip_state(3);
  RetrievalModel model(test::small_head_config(), test::small_clip_config());
  const LoadReport report = model.load_pretrained(clip_state);  // bare OpenAI names
  INFO(report.str());
  CHECK(report.head_from_clip);
  CHECK(report.unexpected.empty());
  // Only the eight matrices are not in the weights: they stay the identity.
  CHECK(report.missing == std::vector<std::string>(AosmMatrices::names().begin(), AosmMatrices::names().end()));
  CHECK(values(model.parameter("word_mat_weight")) == values(Tensor::eye(6)));
  CHECK(values(model.parameter("global_mat_weight")) == values(Tensor::eye(16)));
  CHECK(values(model.parameter("frame_position_embeddings.weight")) ==
        values(model.parameter("clip.positional_embedding")));
  // transformerClip block n is CLIP text block n, for n < cross_num_hidden_layers (2 of 3 here).
  for (const auto& [name, p] : model.named_parameters()) {
    if (name.rfind("transformerClip.", 0) != 0) continue;
    const std::string src = "clip.transformer." + name.substr(std::string("transformerClip.").size());
    INFO(name);
    CHECK(values(p) == values(model.parameter(src)));
  }
  CHECK(dynamic_cast<XClipHead&>(model.head).temporal_encoder()->transformer_clip.resblocks.size() == 2);
  CHECK(dynamic_cast<XClipHead&>(model.head).temporal_encoder()->transformer_clip.resblocks[0]->ln_1.eps == 1e-12);
}

TEST_CASE("X-CLIP state_dict: official names and order, save then load is exact", "[models][xclip]") {
  RetrievalModel a(test::small_head_config(), test::small_clip_config());
  a.load_pretrained(random_clip_state(4));
  {
    NoGradGuard no_grad;
    Generator g(9);
    for (const char* m : AosmMatrices::names()) {
      Tensor p = a.parameter(m);
      p.copy_(ops::add(p, Tensor::randn(p.shape(), g, DType::f32, 0.0, 0.1)));
    }
  }
  const auto names = a.named_parameters();
  CHECK(names[0].first == "global_mat_weight");
  CHECK(names[7].first == "word_mat_weight2");
  CHECK(names[8].first == "clip.positional_embedding");
  CHECK(names[names.size() - 1].first == "transformerClip.resblocks.1.ln_2.bias");
  const auto path = (xclip::test::temp_dir("xclip_save") / "model.safetensors").string();
  a.save(path);
  const io::NamedTensors w = io::load_safetensors(path);
  RetrievalModel b(test::small_head_config(), infer_xclip_clip_config(w.list(), 8));
  const LoadReport r = b.load_pretrained(w.list(), true);
  CHECK_FALSE(r.head_from_clip);
  for (const auto& [name, p] : a.named_parameters()) {
    INFO(name);
    CHECK(values(p) == values(b.parameter(name)));
  }
}

TEST_CASE("evaluation similarity equals the training logits for every batch_size_val", "[models][xclip][eval]") {
  HeadConfig cfg = test::small_head_config();
  RetrievalModel model(cfg, test::small_clip_config());
  model.load_pretrained(random_clip_state(5));
  const test::SmallInputs batch = test::small_inputs(5, 6);
  Tensor logits;
  {
    NoGradGuard no_grad;
    logits = model.forward(batch.ids, batch.attention, batch.video, batch.video_mask).head.logits;
  }
  for (int64_t block : {1, 2, 3, 5, 8}) {
    HeadConfig c = cfg;
    c.batch_size_val = block;
    RetrievalModel m(c, test::small_clip_config());
    m.load_pretrained(model.state_dict(), true);
    Tensor sim = m.similarity_for_eval(batch.ids, batch.attention, batch.video, batch.video_mask);
    REQUIRE(sim.shape() == Shape({5, 5}));
    const auto a = values(sim), b = values(logits);
    for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == Approx(b[i]).epsilon(1e-5).margin(1e-5));
  }
}

TEST_CASE("training forward gives a finite loss and gradients to every parameter", "[models][xclip]") {
  RetrievalModel model(test::small_head_config(), test::small_clip_config());
  model.load_pretrained(random_clip_state(7));
  const test::SmallInputs batch = test::small_inputs(4, 8);
  ModelOutput out = model.forward(batch.ids, batch.attention, batch.video, batch.video_mask);
  CHECK(out.head.logits.shape() == Shape({4, 4}));
  CHECK(std::isfinite(out.loss.item<float>()));
  out.loss.backward();
  for (const auto& [name, p] : model.named_parameters()) {
    INFO(name);
    REQUIRE(p.grad().defined());
  }
  // Rows of the position table beyond max_frames are never read.
  auto g = values(model.parameter("frame_position_embeddings.weight").grad());
  CHECK(std::all_of(g.begin() + 3 * 16, g.end(), [](float v) { return v == 0.0f; }));
}

TEST_CASE("X-CLIP rejects inputs and configurations that do not fit", "[models][xclip][errors]") {
  RetrievalModel model(test::small_head_config(), test::small_clip_config());
  const test::SmallInputs batch = test::small_inputs(2, 1);
  CHECK_THROWS_AS(model.forward(ops::narrow(batch.ids, 1, 0, 5), ops::narrow(batch.attention, 1, 0, 5), batch.video,
                                batch.video_mask),
                  Error);  // 5 words, max_words 6
  CHECK_THROWS_AS(model.encode_video(ops::narrow(batch.video, 1, 0, 2), ops::narrow(batch.video_mask, 1, 0, 2)), Error);
  ClipConfig wide = test::small_clip_config();
  wide.text.width = 32;
  CHECK_THROWS_WITH(RetrievalModel(test::small_head_config(), wide), Catch::Contains("temporal encoder"));
  HeadConfig baseline = HeadConfig::clip4clip("meanP");
  baseline.max_words = 6;
  baseline.max_frames = 3;
  CHECK_NOTHROW(RetrievalModel(baseline, wide));  // no temporal encoder: the widths may differ
  HeadConfig many_words = test::small_head_config();
  many_words.max_words = 20;
  CHECK_THROWS_WITH(RetrievalModel(many_words, test::small_clip_config()), Catch::Contains("context length"));
}
