// f64 finite-difference gradient check (xclip::gradcheck, 4-point stencil) of the whole X-CLIP
// head + loss: raw CLIP features -> temporal encoder -> normalisations -> the four contrasts with
// AOSM -> symmetric CrossEn, with respect to the features and every head parameter, for every switch.
#include <catch2/catch.hpp>

#include "xclip/gradcheck.hpp"
#include "xclip/models/heads/xclip_head.hpp"
#include "xclip/ops.hpp"

#include <cmath>

using namespace xclip;
using namespace xclip::models;

namespace {

constexpr int64_t B = 3, L = 4, N = 3, D = 8;

Tensor rnd(const Shape& s, uint64_t seed, double sd = 1.0) {
  Generator g(seed);
  return Tensor::randn(s, g, DType::f64, 0.0, sd);
}

// Head parameters away from their special initial values, so that axis or transpose mistakes in
// any of them would show in the gradients.
void perturb(const nn::NamedTensorList& params, uint64_t seed) {
  NoGradGuard no_grad;
  for (auto [name, p] : params) {
    Tensor noise = rnd(p.shape(), ++seed, name.find("_weight") != std::string::npos ? 0.1 : 0.3);
    p.copy_(ops::add(p, noise));
  }
}

void check_head_and_loss(const HeadConfig& cfg) {
  HeadDims dims{D, 5};
  XClipHead heads(cfg, dims, DType::f64);
  // clip.logit_scale, ln 100 as OpenAI's checkpoints hold it; the head reads it from CLIP.
  Tensor logit_scale = Tensor::full(Shape{}, std::log(100.0), DType::f64).set_requires_grad(true);
  nn::NamedTensorList params = heads.named_parameters();
  params.emplace_back("clip.logit_scale", logit_scale);
  perturb(params, 17);  // λ stays ≈ 100·e^noise: the real scale, so τ and λ are exercised together
  Tensor sentence = rnd(Shape{B, D}, 1).set_requires_grad(true);
  Tensor words = rnd(Shape{B, L, D}, 2).set_requires_grad(true);
  Tensor frames = rnd(Shape{B, N, D}, 3).set_requires_grad(true);
  Tensor word_mask = Tensor::from_vector<int64_t>({1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 0}, Shape{B, L});
  Tensor video_mask = Tensor::from_vector<int64_t>({1, 1, 0, 1, 1, 1, 1, 0, 0}, Shape{B, N});
  std::vector<Tensor> inputs{sentence, words, frames};
  for (auto& [name, p] : params) inputs.push_back(p);
  auto fn = [&](const std::vector<Tensor>& in) {
    HeadOutput out = heads.forward({in[0], in[1], word_mask}, {in[2], video_mask}, logit_scale);
    return symmetric_cross_entropy(out.logits);
  };
  GradcheckOptions opt;
  opt.tolerance = 1e-6;
  GradcheckResult r = gradcheck(fn, inputs, opt);
  INFO(r.report << "worst: " << r.worst);
  CHECK(r.ok);
  CHECK(r.max_error < opt.tolerance);
}

HeadConfig tiny() {
  HeadConfig c;
  c.max_words = L;
  c.max_frames = N;
  c.cross_num_hidden_layers = 1;
  c.temporal_heads = 2;
  return c;
}

}  // namespace

TEST_CASE("gradcheck: official X-CLIP head + loss (seqTransf, attention, 8 matrices)", "[models][grad]") {
  check_head_and_loss(tiny());
}

TEST_CASE("gradcheck: head + loss under every ablation switch", "[models][grad]") {
  std::vector<std::pair<std::string, HeadConfig>> cases;
  {
    HeadConfig c = tiny();
    c.sim_header = "meanP";
    cases.emplace_back("meanP", c);
  }
  for (const char* agg : {"mean-mean", "max-max", "mean-max", "max-mean"}) {
    HeadConfig c = tiny();
    c.sim_header = "meanP";
    c.aggregation = Aggregation::parse(agg);
    cases.emplace_back(agg, c);
  }
  for (const Contrasts& cs : {Contrasts{false, true, false, false}, Contrasts{false, false, true, false},
                              Contrasts{false, false, false, true}, Contrasts{true, true, false, false}}) {
    HeadConfig c = tiny();
    c.sim_header = "meanP";
    c.contrasts = cs;
    cases.emplace_back("contrasts " + std::to_string(cs.video_sentence) + std::to_string(cs.video_word) +
                           std::to_string(cs.sentence_frame) + std::to_string(cs.frame_word),
                       c);
  }
  {
    HeadConfig c = tiny();
    c.mask_padding = true;
    cases.emplace_back("mask_padding (seqTransf)", c);
    c.sim_header = "meanP";
    c.aggregation = Aggregation::parse("mean-max");
    cases.emplace_back("mask_padding mean-max", c);
  }
  {
    HeadConfig c = tiny();
    c.sim_header = "meanP";
    c.learnable_aosm = false;
    cases.emplace_back("learnable_aosm off", c);
    c.temperature = 0.1;
    cases.emplace_back("tau 0.1", c);
  }
  {
    HeadConfig c = tiny();
    c.use_original_clip_for_frame_features = false;
    cases.emplace_back("frame features from the temporal encoder", c);
  }
  cases.emplace_back("clip4clip meanP", [] {
    HeadConfig c = HeadConfig::clip4clip("meanP");
    c.max_words = L;
    c.max_frames = N;
    return c;
  }());
  {
    HeadConfig c = tiny();
    c.sim_header = "meanP";
    c.frame_word_chunk_elements = L * B * N;  // one text per chunk: the checkpointed backward
    cases.emplace_back("frame-word in chunks", c);
  }
  for (const auto& [name, cfg] : cases) {
    DYNAMIC_SECTION(name) { check_head_and_loss(cfg); }
  }
}
