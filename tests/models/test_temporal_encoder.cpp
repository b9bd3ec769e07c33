// The temporal encoder: official names, padding mask, residual, position embeddings.
#include <catch2/catch.hpp>

#include "xclip/models/heads/clip4clip_head.hpp"
#include "xclip/models/heads/xclip_head.hpp"
#include "xclip/ops.hpp"

using namespace xclip;
using namespace xclip::models;

namespace {

Tensor rnd(const Shape& s, uint64_t seed, double sd = 1.0) {
  Generator g(seed);
  return Tensor::randn(s, g, DType::f64, 0.0, sd);
}

struct Encoder {
  nn::WeightModule table{Tensor::zeros(Shape{6, 8}, DType::f64)};
  nn::Transformer transformer{8, 2, 2, kTemporalLayerNormEps, DType::f64};
  Encoder() {
    NoGradGuard no_grad;
    uint64_t seed = 50;
    table.weight.copy_(rnd(table.weight.shape(), ++seed, 0.5));
    for (auto& [name, p] : transformer.named_parameters()) p.copy_(ops::add(p, rnd(p.shape(), ++seed, 0.2)));
  }
};

}  // namespace

TEST_CASE("X-CLIP head parameters carry the official state_dict names", "[models][temporal]") {
  HeadConfig c;
  c.max_words = 4;
  c.max_frames = 3;
  c.cross_num_hidden_layers = 2;
  XClipHead heads(c, HeadDims{64, 77});
  std::vector<std::string> names;
  for (auto& [n, t] : heads.named_parameters()) names.push_back(n);
  REQUIRE(names.size() == 8 + 1 + 2 * 12);
  CHECK(std::vector<std::string>(names.begin(), names.begin() + 9) ==
        std::vector<std::string>{"global_mat_weight", "word_logit_weight", "frame_logit_weight", "local_mat_weight",
                                 "frame_mat_weight", "word_mat_weight", "frame_mat_weight2", "word_mat_weight2",
                                 "frame_position_embeddings.weight"});
  CHECK(names[9] == "transformerClip.resblocks.0.attn.in_proj_weight");
  CHECK(names.back() == "transformerClip.resblocks.1.ln_2.bias");
  CHECK(heads.parameter("word_mat_weight").shape() == Shape({4, 4}));
  CHECK(heads.parameter("frame_mat_weight2").shape() == Shape({3, 3}));
  CHECK(heads.parameter("frame_position_embeddings.weight").shape() == Shape({77, 64}));
  CHECK(heads.temporal_encoder()->transformer_clip.resblocks[0]->ln_1.eps == 1e-12);
  CHECK(heads.temporal_encoder()->transformer_clip.heads == 1);  // width / 64, as the original
  // The matrices start as the identity.
  CHECK(heads.parameter("local_mat_weight").to_vector<float>() == Tensor::eye(64).to_vector<float>());
  // meanP without learnable matrices has no parameter of its own (clip.logit_scale is CLIP's).
  HeadConfig bare_config = c;
  bare_config.sim_header = "meanP";
  bare_config.learnable_aosm = false;
  CHECK(XClipHead(bare_config, HeadDims{64, 77}).named_parameters().empty());
  CHECK(Clip4ClipHead(HeadConfig::clip4clip("meanP"), HeadDims{64, 77}).named_parameters().empty());
  // CLIP4Clip seqTransf: the same encoder under the same names, and no matrices.
  Clip4ClipHead seq(HeadConfig::clip4clip("seqTransf"), HeadDims{64, 77});
  CHECK(seq.named_parameters().front().first == "frame_position_embeddings.weight");
  CHECK(seq.named_parameters().size() == 1 + 4 * 12);
}

TEST_CASE("temporal encoder: V = transformer(F + P, mask) + F, padded frames invisible", "[models][temporal]") {
  Encoder enc;
  Tensor frames = rnd(Shape{2, 4, 8}, 1);
  Tensor mask = Tensor::from_vector<int64_t>({1, 1, 1, 1, 1, 1, 0, 0}, Shape{2, 4});
  Tensor out = temporal_encode(frames, mask, enc.table.weight, enc.transformer);
  // Residual and positions, computed by hand from the pieces.
  Tensor x = ops::add(frames, ops::narrow(enc.table.weight, 0, 0, 4));
  Tensor want = ops::add(enc.transformer.forward(x, frame_padding_mask(mask, DType::f64)), frames);
  CHECK(out.to_vector<double>() == want.to_vector<double>());
  // Changing the padded frames of video 1 leaves its real frames' outputs unchanged.
  Tensor changed = frames.clone();
  for (int64_t i = (1 * 4 + 2) * 8; i < 2 * 4 * 8; ++i) changed.data<double>()[i] += 3.0;
  Tensor out2 = temporal_encode(changed, mask, enc.table.weight, enc.transformer);
  auto a = out.to_vector<double>(), b = out2.to_vector<double>();
  for (int64_t i = 0; i < (1 * 4 + 2) * 8; ++i) CHECK(a[size_t(i)] == Approx(b[size_t(i)]).margin(1e-12));
  CHECK(a.back() != b.back());
}

TEST_CASE("the frame padding mask is (1 - video_mask) * -1e6 on the keys", "[models][temporal]") {
  Tensor m = frame_padding_mask(Tensor::from_vector<float>({1, 0, 1}, Shape{1, 3}), DType::f32);
  CHECK(m.shape() == Shape({1, 1, 3}));
  CHECK(m.to_vector<float>() == std::vector<float>{0.0f, -1e6f, 0.0f});
}

TEST_CASE("only the first max_frames rows of frame_position_embeddings get gradients", "[models][temporal]") {
  Encoder enc;
  Tensor frames = rnd(Shape{2, 4, 8}, 2);
  Tensor mask = Tensor::ones(Shape{2, 4});
  ops::sum_all(temporal_encode(frames, mask, enc.table.weight, enc.transformer)).backward();
  auto g = enc.table.weight.grad().to_vector<double>();
  double early = 0, late = 0;
  for (size_t i = 0; i < g.size(); ++i) (i < 4 * 8 ? early : late) += std::abs(g[i]);
  CHECK(early > 0);
  CHECK(late == 0);
}

TEST_CASE("temporal encoder rejects mismatched shapes", "[models][temporal][errors]") {
  Encoder enc;
  CHECK_THROWS_AS(temporal_encode(rnd(Shape{2, 7, 8}, 1), Tensor::ones(Shape{2, 7}), enc.table.weight, enc.transformer),
                  Error);  // 7 frames, 6 positions
  CHECK_THROWS_AS(temporal_encode(rnd(Shape{2, 4, 8}, 1), Tensor::ones(Shape{2, 3}), enc.table.weight, enc.transformer),
                  Error);
}
