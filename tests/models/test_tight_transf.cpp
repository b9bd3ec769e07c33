// The tight type (sim_header tightTransf, models/heads/cross_encoder.hpp) of the CLIP4Clip and
// EA-CLIP4Clip heads: f64 gradient checks of the head + loss, each pair's logit computed from its
// own text and video alone, the frame mask, dropout in training only (redrawn from seed and
// step), the evaluation blocks, the official names, the copy from CLIP's text tower, and the
// refusals (configurations the release never applies, search). The values against PyTorch are
// the ea_tighttransf_* bundles (test_xclip_verify.cpp).
#include <catch2/catch.hpp>

#include <cmath>

#include <nlohmann/json.hpp>

#include "models/head_test_util.hpp"
#include "models/small_model_util.hpp"
#include "ops/grad_util.hpp"
#include "xclip/models/heads/clip4clip_head.hpp"
#include "xclip/ops.hpp"
#include "xclip/search/score.hpp"

using namespace xclip;
using namespace xclip::models;
using xclip::test::check_gradients;

namespace {

constexpr int64_t B = test::kHeadVideos, N = test::kHeadFrames, D = test::kHeadWidth;

Tensor rnd(const Shape& s, uint64_t seed, double sd = 1.0) { return test::randn_f64(s, seed, sd); }
Tensor video_mask() { return test::three_video_mask(); }

HeadConfig tight_config(const std::string& head, const nlohmann::json& options = nlohmann::json::object()) {
  nlohmann::json j = options;
  j["head"] = head;
  j["sim_header"] = "tightTransf";
  j["max_frames"] = N;
  j["max_words"] = 5;
  j["cross_num_hidden_layers"] = 2;
  j["temporal_heads"] = 2;
  j["batch_size_val"] = 2;
  if (!j.contains("hidden_dropout_prob")) j["hidden_dropout_prob"] = 0.0;
  return HeadConfig::from_json(j);
}

// Every parameter at a spread that moves the logits (the original's init leaves biases 0 and the
// pooler near linear); LayerNorm gains near 1.
void randomize(const nn::NamedTensorList& params, uint64_t seed) {
  NoGradGuard no_grad;
  for (auto [name, p] : params) {
    const bool gain = name.ends_with("ln_1.weight") || name.ends_with("ln_2.weight") || name.ends_with("ln_pool.weight");
    Tensor r = rnd(p.shape(), ++seed, name.find("fc.0.") != std::string::npos ? 2.0 : 0.5);
    p.copy_(gain ? ops::add_scalar(ops::scale(r, 0.4), 1.0) : r);
  }
}

TextFeatures texts_of(const Tensor& sentence) {
  return {sentence, rnd(Shape{sentence.dim(0), 5, D}, 99), Tensor::ones(Shape{sentence.dim(0), 5}, DType::i64)};
}

const Tensor& unused_logit_scale() {
  static const Tensor t = Tensor::full(Shape{}, std::log(20.0), DType::f64);
  return t;
}

}  // namespace

TEST_CASE("tightTransf: f64 gradients of the head + loss, with and without EA's excitation", "[tight][grad]") {
  const std::vector<std::pair<std::string, nlohmann::json>> configs = {
      {"ea_clip4clip", {{"se_type", "excitation"}, {"reduction_ratio", 2.0}}},
      {"ea_clip4clip", {{"se_type", "excitation"}, {"reduction_ratio", 0.5}, {"ea_mask_frames", true}}},
      {"clip4clip", nlohmann::json::object()},
  };
  for (const auto& [family, options] : configs) {
    DYNAMIC_SECTION(family << " " << options.dump()) {
      Clip4ClipHead head(tight_config(family, options), HeadDims{D, 6}, DType::f64);
      randomize(head.named_parameters(), 7);
      Tensor sentence = rnd(Shape{B, D}, 4).set_requires_grad(true);
      Tensor frames = rnd(Shape{B, N, D}, 5).set_requires_grad(true);
      std::vector<Tensor> inputs = {sentence, frames};
      // similarity_dense.bias adds one constant to every logit, which the softmax of both
      // directions cancels: its gradient is 0, and relative errors of rounding noise mean nothing.
      for (auto& [name, p] : head.named_parameters())
        if (name != "similarity_dense.bias") inputs.push_back(p);
      const Tensor mask = video_mask();
      check_gradients(
          [&](const std::vector<Tensor>& in) {
            return symmetric_cross_entropy(head.forward(texts_of(in[0]), {in[1], mask}, unused_logit_scale()).logits);
          },
          inputs, 1e-6, 1e-4);
    }
  }
}

TEST_CASE("tightTransf: each pair's logit is computed from its own text and video; padded frames are masked",
          "[tight]") {
  for (const char* family : {"clip4clip", "ea_clip4clip"}) {
    DYNAMIC_SECTION(family) {
      // ea: the excitation's squeeze masked too, so that padded frames can change nothing at all.
      Clip4ClipHead head(tight_config(family, std::string(family) == "ea_clip4clip"
                                                  ? nlohmann::json{{"reduction_ratio", 2.0}, {"ea_mask_frames", true}}
                                                  : nlohmann::json::object()),
                         HeadDims{D, 6}, DType::f64);
      randomize(head.named_parameters(), 17);
      const Tensor sentence = rnd(Shape{B, D}, 14), frames = rnd(Shape{B, N, D}, 15), mask = video_mask();
      const Tensor all = head.forward(texts_of(sentence), {frames, mask}, unused_logit_scale()).logits;
      REQUIRE(all.shape() == Shape{B, B});
      const auto a = all.to_vector<double>();
      for (int64_t t = 0; t < B; ++t)
        for (int64_t v = 0; v < B; ++v) {
          const Tensor one = head.forward(texts_of(ops::narrow(sentence, 0, t, 1)),
                                          {ops::narrow(frames, 0, v, 1), ops::narrow(mask, 0, v, 1)}, unused_logit_scale())
                                 .logits;
          CHECK(one.to_vector<double>()[0] == Approx(a[size_t(t * B + v)]).epsilon(1e-12));
        }
      // New values in the padded frames only: the logits stay, bit for bit.
      const Tensor noise = ops::mul(rnd(Shape{B, N, D}, 16, 5.0),
                                    ops::add_scalar(ops::neg(ops::unsqueeze(mask.to(DType::f64), 2)), 1.0));
      const Tensor padded_changed = head.forward(texts_of(sentence), {ops::add(frames, noise), mask}, unused_logit_scale()).logits;
      CHECK(padded_changed.to_vector<double>() == a);
      // And the text token does matter: another sentence changes its row.
      const Tensor other = head.forward(texts_of(ops::add_scalar(sentence, 0.5)), {frames, mask}, unused_logit_scale()).logits;
      CHECK(other.to_vector<double>() != a);
    }
  }
}

TEST_CASE("tightTransf: dropout in training only, redrawn from (seed, step); evaluation blocks equal the forward",
          "[tight]") {
  Clip4ClipHead dropped(tight_config("ea_clip4clip", {{"reduction_ratio", 2.0}, {"hidden_dropout_prob", 0.3}}),
                        HeadDims{D, 6}, DType::f64);
  Clip4ClipHead plain(tight_config("ea_clip4clip", {{"reduction_ratio", 2.0}}), HeadDims{D, 6}, DType::f64);
  randomize(dropped.named_parameters(), 27);
  plain.load_state_dict(dropped.state_dict());
  const Tensor sentence = rnd(Shape{B, D}, 24), frames = rnd(Shape{B, N, D}, 25);
  const VideoFeatures videos{frames, video_mask()};
  auto train_logits = [&](uint64_t step) {
    dropped.set_step_seed(42, step);
    return dropped.forward(texts_of(sentence), videos, unused_logit_scale()).logits.to_vector<double>();
  };
  const auto no_dropout = plain.forward(texts_of(sentence), videos, unused_logit_scale()).logits.to_vector<double>();
  CHECK(train_logits(5) == train_logits(5));
  CHECK(train_logits(5) != train_logits(6));
  CHECK(train_logits(5) != no_dropout);
  // batch_size_val 2: 2 × 2 blocks of pairs, no dropout.
  const auto eval = dropped.similarity_matrix(texts_of(sentence), videos, unused_logit_scale()).to_vector<double>();
  REQUIRE(eval.size() == no_dropout.size());
  for (size_t i = 0; i < eval.size(); ++i) CHECK(eval[i] == Approx(no_dropout[i]).epsilon(1e-12));
}

TEST_CASE("tightTransf: the official names and shapes, no temporal encoder, contrast within ranks", "[tight]") {
  Clip4ClipHead head(tight_config("ea_clip4clip"), HeadDims{D, 6}, DType::f32);
  std::map<std::string, Shape> shapes;
  for (const auto& [name, t] : head.named_parameters()) shapes[name] = t.shape();
  CHECK(shapes.at("cross.embeddings.position_embeddings.weight") == Shape{6, D});
  CHECK(shapes.at("cross.transformer.resblocks.1.attn.in_proj_weight") == Shape{3 * D, D});
  CHECK(shapes.at("cross.transformer.resblocks.1.mlp.c_fc.weight") == Shape{4 * D, D});
  CHECK(shapes.at("cross.pooler.ln_pool.weight") == Shape{D});
  CHECK(shapes.at("cross.pooler.dense.weight") == Shape{D, D});
  CHECK(shapes.at("similarity_dense.weight") == Shape{1, D});
  CHECK(shapes.at("similarity_dense.bias") == Shape{1});
  CHECK(shapes.at("se_block.fc.0.weight") == Shape{1, N});  // int(4 // 4) = 1 hidden unit
  CHECK_FALSE(shapes.count("cross.transformer.resblocks.2.ln_1.weight"));
  for (const auto& [name, s] : shapes) {
    INFO(name);
    CHECK_FALSE(name.starts_with("transformerClip."));
    CHECK_FALSE(name.starts_with("frame_position_embeddings"));
  }
  CHECK(head.contrasts_within_rank());
  CHECK_FALSE(head.has_video_feature());
  CHECK_THROWS_WITH(head.video_feature({rnd(Shape{B, N, D}, 1).to(DType::f32), video_mask()}),
                    Catch::Contains("tightTransf has no video feature"));
  // Cross-encoder parameters are not CLIP's, decayed unless a bias (LayerNorm weights included, as
  // the original's no_decay list misses "ln_pool.weight").
  CHECK_FALSE(head.param_role("cross.pooler.ln_pool.weight").clip);
  CHECK(head.param_role("cross.pooler.ln_pool.weight").decay);
  CHECK_FALSE(head.param_role("similarity_dense.bias").decay);
  // The loose types keep the all-gather contrast.
  CHECK_FALSE(Clip4ClipHead(HeadConfig::clip4clip("meanP"), HeadDims{D, 6}).contrasts_within_rank());
}

TEST_CASE("tightTransf: the cross encoder starts from CLIP's text tower (from_pretrained)", "[tight]") {
  HeadConfig cfg = test::small_head_config(tight_config("ea_clip4clip", {{"reduction_ratio", 2.0}}));  // 3 frames
  RetrievalModel model(cfg, test::small_clip_config());
  Generator g(4);
  model.clip.init_random(g);
  const LoadReport report = model.load_pretrained(model.clip.state_dict("clip."));
  CHECK(report.head_from_clip);
  auto same = [&](const std::string& ours, const std::string& clips) {
    INFO(ours << " vs " << clips);
    CHECK(model.parameter(ours).to_vector<float>() == model.parameter(clips).to_vector<float>());
  };
  same("cross.embeddings.position_embeddings.weight", "clip.positional_embedding");
  same("cross.transformer.resblocks.0.attn.in_proj_weight", "clip.transformer.resblocks.0.attn.in_proj_weight");
  same("cross.transformer.resblocks.1.mlp.c_proj.bias", "clip.transformer.resblocks.1.mlp.c_proj.bias");
  same("cross.transformer.resblocks.1.ln_2.weight", "clip.transformer.resblocks.1.ln_2.weight");

  const test::SmallInputs in = test::small_inputs(4, 2);
  const ModelOutput out = model.forward(in.ids, in.attention, in.video, in.video_mask);
  out.loss.backward();
  CHECK(std::isfinite(out.loss.item<float>()));
  CHECK(model.parameter("similarity_dense.weight").grad().defined());
  CHECK(model.parameter("cross.transformer.resblocks.0.attn.in_proj_weight").grad().defined());
  CHECK(model.parameter("se_block.fc.0.weight").grad().defined());
  const Tensor eval = model.similarity_for_eval(in.ids, in.attention, in.video, in.video_mask);
  CHECK(eval.shape() == Shape{4, 4});

  // search has no video side to index for this type.
  CHECK_THROWS_WITH(search::video_sides(model, model.encode_video(in.video, in.video_mask)),
                    Catch::Contains("tightTransf is not supported"));
}

TEST_CASE("tightTransf: configurations the release never runs are refused with a message", "[tight][errors]") {
  auto error_of = [](const nlohmann::json& j) {
    try {
      HeadConfig c = HeadConfig::from_json(j);
      Clip4ClipHead head(c, HeadDims{D, 6});
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error_of({{"head", "xclip"}, {"sim_header", "tightTransf"}}), Catch::Contains("tightTransf for clip4clip"));
  CHECK_THAT(error_of({{"head", "ea_clip4clip"}, {"sim_header", "tightTransf"}, {"se_type", "aggregation"}}),
             Catch::Contains("tightTransf takes se_type excitation only"));
  CHECK_THAT(error_of({{"head", "ea_clip4clip"}, {"sim_header", "tightTransf"}, {"ea_intra_attn", true}}),
             Catch::Contains("ea_intra_attn is a loose-type module"));
  CHECK_THAT(error_of({{"head", "clip4clip"}, {"sim_header", "tightTransf"}, {"hidden_dropout_prob", 1.0}}),
             Catch::Contains("hidden_dropout_prob must be in [0, 1)"));
  CHECK(error_of({{"head", "ea_clip4clip"}, {"sim_header", "tightTransf"}, {"se_block", false},
                  {"se_type", "aggregation"}, {"temporal_heads", 2}}) == "no error");  // no blocks: se_type is not read
  // A position table too short for one text token and N frames.
  Clip4ClipHead head(tight_config("clip4clip"), HeadDims{D, N}, DType::f64);
  CHECK_THROWS_WITH(head.forward(texts_of(rnd(Shape{B, D}, 1)), {rnd(Shape{B, N, D}, 2), video_mask()},
                                 unused_logit_scale()),
                    Catch::Contains("needs 5"));
}
