// The fused frame-word kernel (cpu::aosm_frame_word via detail::frame_word_fused) against the
// graph of aosm_pool ops it replaces in evaluation: every aggregation, with and without padding
// masks (one video all padding), learnt mixing matrices and none, awkward sizes, f32 and f64.
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "xclip/autograd.hpp"
#include "xclip/models/heads/xclip_head.hpp"
#include "xclip/models/heads/xclip_head.hpp"
#include "xclip/ops.hpp"

using namespace xclip;
using namespace xclip::models;

namespace {

struct Sizes {
  int64_t T, L, V, N, D;
};

Tensor rnd(const Shape& s, uint64_t seed, DType dtype, double sd = 1.0) {
  Generator g(seed);
  return Tensor::randn(s, g, DType::f64, 0.0, sd).to(dtype);
}

// Word t keeps its first L − (t mod 3) positions (at least one); video 0 is all padding when
// `empty_video`, the others lose their last (v mod 2) frames (at least one kept).
Tensor word_mask(const Sizes& s) {
  std::vector<int64_t> m(size_t(s.T * s.L));
  for (int64_t t = 0; t < s.T; ++t)
    for (int64_t l = 0; l < s.L; ++l) m[size_t(t * s.L + l)] = l < std::max<int64_t>(1, s.L - t % 3) ? 1 : 0;
  return Tensor::from_vector<int64_t>(m, Shape{s.T, s.L});
}
Tensor frame_mask(const Sizes& s, bool empty_video = true) {
  std::vector<double> m(size_t(s.V * s.N));
  for (int64_t v = 0; v < s.V; ++v)
    for (int64_t n = 0; n < s.N; ++n) m[size_t(v * s.N + n)] = (v > 0 || !empty_video) && n < std::max<int64_t>(1, s.N - v % 2) ? 1 : 0;
  return Tensor::from_vector<double>(m, Shape{s.V, s.N});
}

struct Case {
  HeadConfig config;
  AosmMatrices aosm;
  TextSide text;
  VideoSide video;
};

Case make_case(const Sizes& s, const std::string& aggregation, bool mask_padding, bool learnt, DType dtype,
               uint64_t seed) {
  Case c;
  c.config.aggregation = Aggregation::parse(aggregation);
  c.config.mask_padding = mask_padding;
  c.config.learnable_aosm = learnt;
  c.config.max_words = s.L;
  c.config.max_frames = s.N;
  if (learnt) {
    // I + 0.1·noise: a transposed or misplaced matrix changes the result.
    c.aosm = AosmMatrices::identity(s.D, s.L, s.N, dtype);
    for (Tensor* t : c.aosm.all()) *t = ops::add(*t, rnd(t->shape(), ++seed, dtype, 0.1));
  }
  Tensor sentence = rnd(Shape{s.T, s.D}, seed + 1, dtype), words = rnd(Shape{s.T, s.L, s.D}, seed + 2, dtype);
  Tensor frames = rnd(Shape{s.V, s.N, s.D}, seed + 3, dtype);
  c.text = make_text_side({sentence, words, word_mask(s)});
  c.video = make_video_side(c.config, frames, frames, frame_mask(s));
  return c;
}

// The graph path: the words require grad, so frame_word_similarity builds the aosm_pool graph.
std::vector<double> graph_term(const Case& c) {
  TextSide text = c.text;
  text.words = c.text.words.detach().set_requires_grad(true);
  Tensor out = frame_word_similarity(c.config, c.aosm, text, c.video);
  REQUIRE(out.requires_grad());
  return out.detach().to_vector<double>();
}

// The evaluation path: no gradient, so frame_word_similarity takes the fused kernel.
std::vector<double> fused_term(const Case& c) {
  NoGradGuard no_grad;
  return frame_word_similarity(c.config, c.aosm, c.text, c.video).to_vector<double>();
}

void check_close(const std::vector<double>& got, const std::vector<double>& want, double rtol, double atol,
                 const std::string& what) {
  REQUIRE(got.size() == want.size());
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::abs(got[i] - want[i]) <= rtol * std::abs(want[i]) + atol) && bad++ == 0) first = i;
  INFO(what << ": " << bad << " of " << got.size() << " differ; first at " << first << ": fused "
            << (bad ? got[first] : 0.0) << " vs graph " << (bad ? want[first] : 0.0));
  CHECK(bad == 0);
}

const std::vector<std::string> kAggregations = {"attention", "mean-mean", "max-max", "mean-max", "max-mean"};
const std::vector<Sizes> kSizes = {{3, 5, 4, 3, 6}, {2, 1, 5, 4, 7}, {4, 6, 3, 1, 7}, {3, 1, 2, 1, 7}, {5, 7, 6, 9, 16}};

void check_all(DType dtype, double rtol, double atol) {
  uint64_t seed = 100;
  for (const Sizes& s : kSizes)
    for (const std::string& agg : kAggregations)
      for (bool masked : {false, true})
        for (bool learnt : {false, true}) {
          const Case c = make_case(s, agg, masked, learnt, dtype, seed += 10);
          std::ostringstream what;
          what << agg << " mask_padding=" << masked << " learnt=" << learnt << " T=" << s.T << " L=" << s.L
               << " V=" << s.V << " N=" << s.N << " D=" << s.D;
          check_close(fused_term(c), graph_term(c), rtol, atol, what.str());
        }
}

}  // namespace

TEST_CASE("fused frame-word kernel equals the graph path, f64", "[models][similarity][fused]") {
  check_all(DType::f64, 1e-12, 1e-12);
}

TEST_CASE("fused frame-word kernel equals the graph path, f32", "[models][similarity][fused]") {
  check_all(DType::f32, 1e-5, 1e-6);
}

TEST_CASE("fused frame-word kernel sees the temperature, masks and matrices", "[models][similarity][fused]") {
  // The comparison above could pass with a kernel that ignores its inputs only if the graph did
  // too: each of these changes must move the fused value.
  const Sizes s{3, 5, 4, 3, 6};
  const Case base = make_case(s, "attention", true, true, DType::f64, 7);
  const std::vector<double> ref = fused_term(base);
  auto differs = [&](const Case& c) {
    const std::vector<double> got = fused_term(c);
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - ref[i]));
    return worst > 1e-6;
  };
  Case hot = base;
  hot.config.temperature = 0.02;
  CHECK(differs(hot));
  Case unmasked = base;
  unmasked.config.mask_padding = false;
  CHECK(differs(unmasked));
  for (size_t i = 4; i < 8; ++i) {  // the four frame-word mixing matrices, one at a time
    Case other = base;
    Tensor* m = other.aosm.all()[i];
    *m = ops::transpose(*m, 0, 1);
    INFO(AosmMatrices::names()[i] << " transposed");
    CHECK(differs(other));
  }
}

TEST_CASE("head similarity without gradients equals the training logits", "[models][similarity][fused]") {
  for (DType dtype : {DType::f64, DType::f32}) {
    for (const std::string agg : {"attention", "max-mean"}) {
      HeadConfig cfg;
      cfg.max_words = 5;
      cfg.max_frames = 3;
      cfg.cross_num_hidden_layers = 1;
      cfg.temporal_heads = 2;
      cfg.mask_padding = true;
      cfg.aggregation = Aggregation::parse(agg);
      cfg.batch_size_val = 2;  // several blocks each way, one partial
      const Sizes s{5, 5, 5, 3, 8};
      XClipHead heads(cfg, HeadDims{s.D, 7}, dtype);
      Tensor logit_scale = Tensor::full(Shape{}, std::log(100.0), dtype).set_requires_grad(true);
      {
        NoGradGuard no_grad;
        uint64_t seed = 31;
        nn::NamedTensorList params = heads.named_parameters();
        params.emplace_back("clip.logit_scale", logit_scale);
        for (auto& [name, p] : params)
          p.copy_(ops::add(p, rnd(p.shape(), ++seed, dtype, name.find("_weight") != std::string::npos ? 0.1 : 0.3)));
      }
      const TextFeatures texts{rnd(Shape{s.T, s.D}, 1, dtype), rnd(Shape{s.T, s.L, s.D}, 2, dtype), word_mask(s)};
      // No all-padding video here: its video feature (a zero vector normalised) is NaN.
      const VideoFeatures videos{rnd(Shape{s.V, s.N, s.D}, 3, dtype), frame_mask(s, false)};
      const SimilarityTerms train = heads.terms(texts, videos, logit_scale);
      REQUIRE(train.frame_word.requires_grad());  // the graph path
      const std::vector<double> logits = train.logits.detach().to_vector<double>();
      const std::vector<double> eval = heads.similarity_matrix(texts, videos, logit_scale).to_vector<double>();
      // λ ≈ 100 scales the terms: the tolerance is relative to that.
      const bool f32 = dtype == DType::f32;
      check_close(eval, logits, f32 ? 1e-5 : 1e-12, f32 ? 1e-4 : 1e-10, agg + (f32 ? " f32" : " f64"));
    }
  }
}
