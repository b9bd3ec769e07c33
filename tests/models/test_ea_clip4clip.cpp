// EA-CLIP4Clip (models/heads/excitation_aggregation.hpp): f64 finite-difference gradient checks of
// each block and of the whole head + loss in every configuration, the blocks' arithmetic against
// a direct loop, the official parameter names and shapes, the option checks, the initial
// behaviour the spec reports, and the evaluation path against the training forward.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "models/head_test_util.hpp"
#include "models/small_model_util.hpp"
#include "ops/grad_util.hpp"
#include "xclip/models/heads/clip4clip_head.hpp"
#include "xclip/ops.hpp"

using namespace xclip;
using namespace xclip::models;
using xclip::test::check_gradients;

namespace {

constexpr int64_t B = test::kHeadVideos, N = test::kHeadFrames, D = test::kHeadWidth;

Tensor rnd(const Shape& s, uint64_t seed, double sd = 1.0) { return test::randn_f64(s, seed, sd); }
Tensor video_mask() { return test::three_video_mask(); }

// Parameters at random values of the given spread, so that every one of them moves the output
// (the original's init leaves the biases 0 and the gates near 0.5). The blocks' first layers get
// `first_layer` (wide: some ReLU units off, some ReLU6 units at 6), their second layers a spread
// that keeps the sigmoid and softmax out of saturation (else the gradients are too small to check).
void randomize(const nn::NamedTensorList& params, uint64_t seed, double sd, double first_layer = 3.0) {
  NoGradGuard no_grad;
  for (auto [name, p] : params) {
    const bool first = name.find("fc.0.") != std::string::npos, second = name.find("fc.2.") != std::string::npos;
    p.copy_(rnd(p.shape(), ++seed, first ? (name.ends_with("bias") ? 1.0 : first_layer) : second ? 0.4 : sd));
  }
}

// fn minus its value at the checked point: the finite differences then subtract numbers near 0
// and lose no digits to the size of the output (the EA outputs are large next to the gradients
// of the blocks' first layers, which a final L2 normalisation makes small).
GradcheckFn centred(const GradcheckFn& fn, const std::vector<Tensor>& inputs) {
  Tensor at_point;
  {
    NoGradGuard no_grad;
    at_point = fn(inputs).clone();
  }
  return [fn, at_point](const std::vector<Tensor>& in) { return ops::sub(fn(in), at_point); };
}

std::vector<Tensor> with_params(std::vector<Tensor> inputs, const nn::Module& m) {
  for (auto& [name, p] : m.named_parameters()) inputs.push_back(p);
  return inputs;
}

HeadConfig ea_config(const std::string& sim_header, const nlohmann::json& options) {
  nlohmann::json j = options;
  j["head"] = "ea_clip4clip";
  j["sim_header"] = sim_header;
  j["max_frames"] = N;
  j["max_words"] = 5;
  j["cross_num_hidden_layers"] = 1;
  j["temporal_heads"] = 2;
  j["batch_size_val"] = 2;
  return HeadConfig::from_json(j);
}

std::vector<std::string> names_of(const nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& [n, t] : m.named_parameters()) out.push_back(n + " " + t.shape().str());
  return out;
}

}  // namespace

TEST_CASE("EA frame blocks: f64 gradients of x and every parameter", "[ea_clip4clip][grad]") {
  using Kind = FrameBlock::Kind;
  for (Kind kind : {Kind::excitation, Kind::aggregation})
    for (FrameActivation act : {FrameActivation::relu, FrameActivation::relu6})
      for (double ratio : {2.0, 0.25})
        for (bool masked : {false, true}) {
          DYNAMIC_SECTION((kind == Kind::excitation ? "excitation" : "aggregation")
                          << (act == FrameActivation::relu ? " relu" : " relu6") << " r " << ratio
                          << (masked ? " masked" : "")) {
            FrameBlock block(kind, N, ratio, act, DType::f64);
            // A spread of 3 puts some hidden units above 6, so relu6's upper clamp takes part.
            randomize(block.named_parameters(), 7, 3.0, 3.0);
            // Frames with means of order 1, so the squeeze (a mean over D) is not near 0.
            Tensor x = ops::add(rnd(Shape{B, N, D}, 1), rnd(Shape{B, N, 1}, 2, 1.5)).set_requires_grad(true);
            const Tensor mask = masked ? video_mask() : Tensor();
            const std::vector<Tensor> inputs = with_params({x}, block);
            check_gradients(centred([&](const std::vector<Tensor>& in) { return block.forward(in[0], mask); }, inputs),
                            inputs);
          }
        }
}

TEST_CASE("intra_attn: f64 gradients of x and intra_mlp, with and without the frame mask", "[ea_clip4clip][grad]") {
  for (bool masked : {false, true}) {
    DYNAMIC_SECTION((masked ? "masked" : "all frames")) {
      IntraAttention intra(D, DType::f64);
      randomize(intra.named_parameters(), 11, 0.5);
      Tensor x = rnd(Shape{B, N, D}, 2).set_requires_grad(true);
      const Tensor mask = masked ? video_mask() : Tensor();
      check_gradients([&](const std::vector<Tensor>& in) { return intra.forward(in[0], mask); }, with_params({x}, intra));
    }
  }
}

TEST_CASE("seqLSTM: f64 gradients of the frames and the four LSTM tensors; padding as pad_packed_sequence",
          "[ea_clip4clip][grad]") {
  FrameLstm lstm(D, DType::f64);
  Generator g(17);
  lstm.reset_parameters(g);
  {
    NoGradGuard no_grad;  // wider than the init, so the gates are not all near 0.5
    for (auto [name, p] : lstm.named_parameters()) p.copy_(ops::scale(p, 3.0));
  }
  // No video of the three is full length: the longest has 2 of 4 frames.
  const Tensor mask = Tensor::from_vector<int64_t>({1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0}, Shape{B, N});
  Tensor x = rnd(Shape{B, N, D}, 21).set_requires_grad(true);
  const std::vector<Tensor> inputs = with_params({x}, lstm);
  check_gradients(centred([&](const std::vector<Tensor>& in) { return lstm.forward(in[0], mask); }, inputs), inputs);
  const std::vector<double> out = lstm.forward(x, mask).to_vector<double>(), xv = x.to_vector<double>();
  for (int64_t d = 0; d < D; ++d) {
    CHECK(out[size_t((1 * N + 1) * D + d)] == xv[size_t((1 * N + 1) * D + d)]);          // padding, t < longest: 0 + x
    CHECK(out[size_t((0 * N + 3) * D + d)] == 2 * xv[size_t((0 * N + 3) * D + d)]);      // t >= longest: x + x
  }
  CHECK_THROWS_WITH(lstm.forward(x, Tensor::zeros(Shape{B, N}, DType::i64)), Catch::Contains("no valid frame"));
}

TEST_CASE("EA blocks compute the equations of the spec, element by element", "[ea_clip4clip]") {
  const Tensor x = rnd(Shape{B, N, D}, 3);
  const std::vector<double> xv = x.to_vector<double>();
  for (FrameBlock::Kind kind : {FrameBlock::Kind::excitation, FrameBlock::Kind::aggregation}) {
    FrameBlock block(kind, N, 0.5, FrameActivation::relu6, DType::f64);  // h = int(4 // 0.5) = 8
    REQUIRE(block.hidden == 8);
    randomize(block.named_parameters(), 5, 3.0, 8.0);
    const auto w0 = block.parameter("fc.0.weight").to_vector<double>(), b0 = block.parameter("fc.0.bias").to_vector<double>();
    const auto w2 = block.parameter("fc.2.weight").to_vector<double>(), b2 = block.parameter("fc.2.bias").to_vector<double>();
    const std::vector<double> out = block.forward(x).to_vector<double>();
    bool clamped = false;
    for (int64_t b = 0; b < B; ++b) {
      std::vector<double> z(N, 0.0), s(N, 0.0), h(8, 0.0), w(N, 0.0);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t d = 0; d < D; ++d) z[n] += xv[size_t((b * N + n) * D + d)] / D;
      for (int64_t k = 0; k < 8; ++k) {
        double a = b0[size_t(k)];
        for (int64_t n = 0; n < N; ++n) a += w0[size_t(k * N + n)] * z[n];
        clamped = clamped || a > 6;
        h[size_t(k)] = std::min(std::max(a, 0.0), 6.0);
      }
      double total = 0;
      for (int64_t n = 0; n < N; ++n) {
        s[n] = b2[size_t(n)];
        for (int64_t k = 0; k < 8; ++k) s[n] += w2[size_t(n * 8 + k)] * h[size_t(k)];
        w[n] = kind == FrameBlock::Kind::excitation ? 1 / (1 + std::exp(-s[n])) : std::exp(s[n]);
        total += w[n];
      }
      for (int64_t d = 0; d < D; ++d) {
        double pooled = 0;
        for (int64_t n = 0; n < N; ++n) {
          const double xe = xv[size_t((b * N + n) * D + d)];
          if (kind == FrameBlock::Kind::excitation)
            CHECK(out[size_t((b * N + n) * D + d)] == Approx(w[n] * xe).epsilon(1e-12));
          pooled += w[n] / total * xe;
        }
        if (kind == FrameBlock::Kind::aggregation) CHECK(out[size_t(b * D + d)] == Approx(pooled).epsilon(1e-12));
      }
    }
    CHECK(clamped);  // the check saw relu6's upper clamp
  }
}

TEST_CASE("the EA head + loss: f64 gradients in every configuration", "[ea_clip4clip][grad]") {
  const std::vector<std::pair<std::string, nlohmann::json>> configs = {
      {"meanP", {{"se_type", "excitation_aggregation"}, {"reduction_ratio", 4.0}}},
      {"meanP", {{"se_type", "excitation_aggregation"}, {"reduction_ratio", 2.0}, {"excitation_aggregation_type", "squeeze_expand"}}},
      {"meanP", {{"se_type", "excitation_aggregation"}, {"reduction_ratio", 0.5}, {"excitation_aggregation_type", "expand_squeeze"}}},
      {"seqTransf", {{"se_type", "aggregation"}, {"reduction_ratio", 0.25}}},
      {"meanP", {{"se_type", "excitation"}, {"reduction_ratio", 2.0}}},
      {"seqTransf", {{"se_type", "excitation_seq"}, {"reduction_ratio", 2.0}}},
      {"meanP", {{"se_block", false}}},
      {"seqTransf", {{"se_type", "excitation_aggregation"}, {"ea_intra_attn", true}, {"ea_mask_frames", true}}},
      {"meanP", {{"se_type", "aggregation"}, {"reduction_ratio", 0.5}, {"ea_intra_attn", true}}},
      {"seqLSTM", {{"se_type", "aggregation"}, {"reduction_ratio", 0.25}}},
      {"seqLSTM", {{"se_type", "excitation_seq"}, {"reduction_ratio", 2.0}}},
  };
  for (const auto& [sim_header, options] : configs) {
    DYNAMIC_SECTION(sim_header << " " << options.dump()) {
      const HeadConfig cfg = ea_config(sim_header, options);
      Clip4ClipHead head(cfg, HeadDims{D, 6}, DType::f64);
      randomize(head.named_parameters(), 23, 0.5, 1.0);
      Tensor logit_scale = Tensor::full(Shape{}, std::log(20.0), DType::f64).set_requires_grad(true);
      Tensor sentence = rnd(Shape{B, D}, 4).set_requires_grad(true);
      Tensor frames = ops::add(rnd(Shape{B, N, D}, 5), rnd(Shape{B, N, 1}, 6, 1.5)).set_requires_grad(true);
      const Tensor words = rnd(Shape{B, 5, D}, 6), word_mask = Tensor::ones(Shape{B, 5}, DType::i64);
      const Tensor mask = video_mask();
      const std::vector<Tensor> inputs = with_params({sentence, frames, logit_scale}, head);
      check_gradients(centred(
                          [&](const std::vector<Tensor>& in) {
                            return symmetric_cross_entropy(
                                head.forward({in[0], words, word_mask}, {in[1], mask}, in[2]).logits);
                          },
                          inputs),
                      inputs, 1e-6, 1e-4);  // a wider step: the loss's own rounding is ~1e-14
    }
  }
}

TEST_CASE("the EA blocks carry the official names and shapes", "[ea_clip4clip]") {
  const auto names = [](const std::string& sim_header, const nlohmann::json& options) {
    return names_of(Clip4ClipHead(ea_config(sim_header, options), HeadDims{D, 6}));
  };
  using V = std::vector<std::string>;
  CHECK(names("meanP", {{"se_type", "excitation"}}) ==
        V{"se_block.fc.0.weight [1, 4]", "se_block.fc.0.bias [1]", "se_block.fc.2.weight [4, 1]", "se_block.fc.2.bias [4]"});
  CHECK(names("meanP", {{"se_type", "aggregation"}, {"reduction_ratio", 0.25}})[0] == "se_block.fc.0.weight [16, 4]");
  CHECK(names("meanP", {{"se_type", "excitation_aggregation"}, {"reduction_ratio", 2.0},
                        {"excitation_aggregation_type", "squeeze_expand"}}) ==
        V{"se_block.scale.fc.0.weight [2, 4]", "se_block.scale.fc.0.bias [2]", "se_block.scale.fc.2.weight [4, 2]",
          "se_block.scale.fc.2.bias [4]", "se_block.aggregate.fc.0.weight [8, 4]", "se_block.aggregate.fc.0.bias [8]",
          "se_block.aggregate.fc.2.weight [4, 8]", "se_block.aggregate.fc.2.bias [4]"});
  const V seq = names("seqTransf", {{"se_type", "excitation_seq"}, {"ea_intra_attn", true}});
  CHECK(seq.front() == "se_block_excitation.fc.0.weight [1, 4]");
  CHECK(std::count(seq.begin(), seq.end(), "intra_mlp.0.weight [8, 16]") == 1);
  CHECK(std::count(seq.begin(), seq.end(), "intra_mlp.2.weight [1, 8]") == 1);
  CHECK(std::count(seq.begin(), seq.end(), "frame_position_embeddings.weight [6, 8]") == 1);
  CHECK(names("meanP", {{"se_block", false}}).empty());
  CHECK(names("seqLSTM", {{"se_block", false}}) ==
        V{"lstm_visual.weight_ih_l0 [32, 8]", "lstm_visual.weight_hh_l0 [32, 8]", "lstm_visual.bias_ih_l0 [32]",
          "lstm_visual.bias_hh_l0 [32]", "frame_position_embeddings.weight [6, 8]"});
  CHECK_THROWS_WITH(HeadConfig::from_json(nlohmann::json{{"head", "clip4clip"}, {"sim_header", "seqLSTM"}}),
                    Catch::Contains("seqLSTM for ea_clip4clip"));
  // Roles: not CLIP, biases not decayed, all but excitation_seq's block after the gather.
  Clip4ClipHead h(ea_config("seqTransf", {{"se_type", "excitation_seq"}, {"ea_intra_attn", true}}), HeadDims{D, 6});
  CHECK_FALSE(h.param_role("se_block_excitation.fc.0.weight").after_gather);
  CHECK(h.param_role("se_block_excitation.fc.0.weight").decay);
  CHECK_FALSE(h.param_role("se_block_excitation.fc.0.bias").decay);
  CHECK(h.param_role("intra_mlp.0.weight").after_gather);
  CHECK_FALSE(h.param_role("transformerClip.resblocks.0.attn.in_proj_weight").after_gather);
  CHECK_FALSE(h.param_role("intra_mlp.0.weight").clip);
}

TEST_CASE("EA options: defaults, official flag names, checked values", "[ea_clip4clip][errors]") {
  const HeadConfig d = HeadConfig::from_json(nlohmann::json{{"model", "ea_clip4clip"}});
  CHECK(d.head == "ea_clip4clip");
  CHECK(d.sim_header == "meanP");
  CHECK(d.contrasts == HeadConfig::clip4clip("meanP").contrasts);  // the clip4clip preset
  const EaOptions o = EaOptions::parse(d);
  CHECK(o.se_block);
  CHECK(o.se_type == "excitation");
  CHECK(o.reduction_ratio == 4.0);
  CHECK(o.excitation_aggregation_type == "unity");
  CHECK_FALSE(o.intra_attn);
  CHECK_FALSE(o.mask_frames);
  CHECK(HeadConfig::from_json(d.to_json()).to_json() == d.to_json());
  // Python's int(N // r): 12 // (1/3) is 36, 12 // 0.25 is 48, 12 // 4 is 3.
  CHECK(frame_block_hidden(12, 1.0 / 3.0, "x") == 36);
  CHECK(frame_block_hidden(12, 0.25, "x") == 48);
  CHECK(frame_block_hidden(12, 4.0, "x") == 3);
  CHECK(frame_block_hidden(12, 1.0 / 7.0, "x") == 84);
  const auto fails = [](const nlohmann::json& options, const std::string& sim_header = "meanP") {
    nlohmann::json j = options;
    j["head"] = "ea_clip4clip";
    j["sim_header"] = sim_header;
    j["max_frames"] = 12;
    return Clip4ClipHead(HeadConfig::from_json(j), HeadDims{D, 77});
  };
  CHECK_THROWS_WITH(fails({{"se_type", "excitation_seq_aggregation"}}), Catch::Contains("released code crashes"));
  CHECK_THROWS_WITH(fails({{"se_type", "squeeze"}}), Catch::Contains("se_type must be"));
  CHECK_THROWS_WITH(fails({{"reduction_ratio", 16}}), Catch::Contains("at least 1"));
  CHECK_THROWS_WITH(fails({{"reduction_ratio", -1}}), Catch::Contains("positive"));
  CHECK_THROWS_WITH(fails({{"reduction_ratio", "4"}}), Catch::Contains("'reduction_ratio' must be a number"));
  CHECK_THROWS_WITH(fails({{"se_type", "excitation_aggregation"}, {"excitation_aggregation_type", "squeeze_expand"},
                           {"reduction_ratio", 0.25}}),
                    Catch::Contains("> 1"));
  CHECK_THROWS_WITH(fails({{"se_type", "excitation_aggregation"}, {"excitation_aggregation_type", "expand_squeeze"}}),
                    Catch::Contains("< 1"));
  CHECK_THROWS_WITH(fails({{"se_type", "excitation_aggregation"}, {"excitation_aggregation_type", "both"}}),
                    Catch::Contains("excitation_aggregation_type must be"));
  CHECK_THROWS_WITH(fails({{"se_type", "excitation_seq"}}), Catch::Contains("needs sim_header seqTransf or seqLSTM"));
  CHECK_THROWS_WITH(fails({{"ea_intra_attn", 1}}), Catch::Contains("'ea_intra_attn' must be true or false"));
  CHECK_THROWS_WITH(HeadConfig::from_json(nlohmann::json{{"head", "clip4clip"}, {"se_type", "excitation"}}),
                    Catch::Contains("unknown key 'se_type'"));
  // A block is sized by max_frames: another frame count is an error naming it.
  Clip4ClipHead head(ea_config("meanP", {{"se_type", "aggregation"}}), HeadDims{D, 6});
  CHECK_THROWS_WITH(head.video_feature({rnd(Shape{2, 3, D}, 1).to(DType::f32), Tensor::ones(Shape{2, 3}, DType::i64)}),
                    Catch::Contains("max_frames"));
}

TEST_CASE("EA at the original's init: gates near 0.5, aggregation near 1/N (a mean over all frames)", "[ea_clip4clip]") {
  HeadConfig cfg = ea_config("meanP", {{"se_type", "excitation_aggregation"}});
  cfg.max_frames = 12;
  Clip4ClipHead head(cfg, HeadDims{512, 77});
  head.reset_parameters(3);
  const Tensor frames = rnd(Shape{2, 12, 512}, 8).to(DType::f32);
  nn::NamedTensorList steps;
  const Tensor video = head.video_feature({frames, Tensor::ones(Shape{2, 12}, DType::i64)}, &steps);
  REQUIRE(steps.size() == 3);
  for (float e : steps[1].second.to_vector<float>()) CHECK(std::abs(e - 0.5) < 1e-3);
  for (float a : steps[2].second.to_vector<float>()) CHECK(std::abs(a - 1.0 / 12) < 1e-4);
  // So the video feature is close to the normalised mean of the raw frames.
  const auto v = video.to_vector<float>(), m = ops::l2_normalize(ops::mean(frames, 1), -1).to_vector<float>();
  for (size_t i = 0; i < v.size(); ++i) CHECK(v[i] == Approx(m[i]).margin(2e-3));
}

TEST_CASE("EA without se_block: the masked mean of the raw frames, unlike CLIP4Clip's of normalised ones", "[ea_clip4clip]") {
  Clip4ClipHead ea(ea_config("meanP", {{"se_block", false}}), HeadDims{D, 6}, DType::f64);
  HeadConfig plain_cfg = ea_config("meanP", {{"se_block", false}});
  plain_cfg.head = "clip4clip";
  plain_cfg.options.clear();
  Clip4ClipHead plain(plain_cfg, HeadDims{D, 6}, DType::f64);
  const Tensor frames = ops::mul(rnd(Shape{B, N, D}, 9), rnd(Shape{B, N, 1}, 10, 3.0));  // frames of unequal norms
  const VideoFeatures v{frames, video_mask()};
  const auto got = ea.video_feature(v).to_vector<double>();
  const auto want = ops::l2_normalize(ops::masked_mean(frames, video_mask(), 1), -1).to_vector<double>();
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).epsilon(1e-12));
  const auto c4c = plain.video_feature(v).to_vector<double>();
  double diff = 0;
  for (size_t i = 0; i < got.size(); ++i) diff = std::max(diff, std::abs(c4c[i] - got[i]));
  CHECK(diff > 1e-3);
}

TEST_CASE("ea_mask_frames: padded frames change nothing when masked, and do change the released arithmetic", "[ea_clip4clip]") {
  for (bool masked : {true, false}) {
    Clip4ClipHead head(ea_config("seqTransf", {{"se_type", "excitation_aggregation"}, {"ea_intra_attn", true},
                                               {"ea_mask_frames", masked}}),
                       HeadDims{D, 6}, DType::f64);
    randomize(head.named_parameters(), 31, 0.5);
    const Tensor frames = rnd(Shape{B, N, D}, 12);
    // The same videos with other values in their padded frames.
    const Tensor noise = ops::mul(rnd(Shape{B, N, D}, 13), ops::unsqueeze(ops::add_scalar(ops::neg(video_mask().to(DType::f64)), 1.0), 2));
    const auto a = head.video_feature({frames, video_mask()}).to_vector<double>();
    const auto b = head.video_feature({ops::add(frames, noise), video_mask()}).to_vector<double>();
    double diff = 0;
    for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::abs(a[i] - b[i]));
    if (masked) CHECK(diff < 1e-12);
    else CHECK(diff > 1e-6);
  }
}

TEST_CASE("the EA evaluation path (block by block) equals the training forward", "[ea_clip4clip]") {
  for (const char* sim_header : {"meanP", "seqTransf"}) {
    Clip4ClipHead head(ea_config(sim_header, {{"se_type", "excitation_aggregation"}, {"ea_intra_attn", true}}),
                       HeadDims{D, 6}, DType::f64);
    randomize(head.named_parameters(), 41, 0.5);
    const Tensor sentence = rnd(Shape{B, D}, 14), frames = rnd(Shape{B, N, D}, 15);
    const TextFeatures t{sentence, rnd(Shape{B, 5, D}, 16), Tensor::ones(Shape{B, 5}, DType::i64)};
    const Tensor ls = Tensor::full(Shape{}, std::log(50.0), DType::f64);
    const auto train = head.forward(t, {frames, video_mask()}, ls).logits.to_vector<double>();
    const auto eval = head.similarity_matrix(t, {frames, video_mask()}, ls).to_vector<double>();  // batch_size_val 2
    for (size_t i = 0; i < train.size(); ++i) CHECK(eval[i] == Approx(train[i]).epsilon(1e-12));
  }
}

TEST_CASE("an ea_clip4clip model trains end to end on the small CLIP", "[ea_clip4clip]") {
  HeadConfig cfg = test::small_head_config(HeadConfig::from_json(
      nlohmann::json{{"model", "ea_clip4clip"}, {"sim_header", "seqTransf"}, {"se_type", "aggregation"}, {"reduction_ratio", 0.25}}));
  RetrievalModel model(cfg, test::small_clip_config());
  Generator g(4);
  model.clip.init_random(g);
  model.load_pretrained(model.clip.state_dict("clip."));
  CHECK(model.has_parameter("se_block.fc.0.weight"));
  const test::SmallInputs in = test::small_inputs(4, 2);
  const ModelOutput out = model.forward(in.ids, in.attention, in.video, in.video_mask);
  out.loss.backward();
  CHECK(std::isfinite(out.loss.item<float>()));
  CHECK(model.parameter("se_block.fc.0.weight").grad().defined());
  CHECK(out.head.find("weight_agg") != nullptr);
}
