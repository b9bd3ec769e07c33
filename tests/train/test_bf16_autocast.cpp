// The bf16 autocast precision mode (ClipPrecision::bf16_autocast) on a tiny X-CLIP: the encoders'
// matmuls run in bf16, the head and the loss in f32, parameters and gradients stay f32; the
// forward, the gradients and ten BertAdam steps stay close to the f32 run without equalling it.
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include "train/train_test_util.hpp"
#include "xclip/ops.hpp"
#include "xclip/train/optimizer.hpp"
#include "xclip/train/trainer.hpp"

using namespace xclip;
using models::ClipPrecision;

namespace {

std::unique_ptr<models::RetrievalModel> model_with(ClipPrecision precision, uint64_t seed) {
  auto m = std::make_unique<models::RetrievalModel>(test::tiny_xclip_config(), test::tiny_clip_config(), precision);
  models::init_from_scratch(*m, seed);
  return m;
}

data::Batch batch_of(int64_t size, uint64_t seed) {
  test::ToySource source(size, size, 5, seed);
  source.start_epoch(0);
  return *source.next();
}

double max_abs_difference(const Tensor& a, const Tensor& b, double* scale) {
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double d = 0;
  *scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    d = std::max(d, std::abs(x[i] - y[i]));
    *scale = std::max(*scale, std::abs(y[i]));
  }
  return d;
}

std::vector<train::ParamGroup> groups(const models::RetrievalModel& m) {
  std::vector<train::ParamGroup> out;
  for (auto& g : train::param_groups(m, 1e-3, 1.0)) out.push_back(g.group);
  return out;
}

}  // namespace

TEST_CASE("bf16 autocast: forward and gradients near f32, parameters and gradients f32", "[train][autocast]") {
  auto f32 = model_with(ClipPrecision::f32, 3), bf16 = model_with(ClipPrecision::bf16_autocast, 3);
  const data::Batch b = batch_of(6, 1);
  models::ModelOutput ref = f32->forward(b.input_ids, b.attention_mask, b.video, b.video_mask);
  models::ModelOutput out = bf16->forward(b.input_ids, b.attention_mask, b.video, b.video_mask);
  CHECK_FALSE(ops::autocast_bf16_enabled());  // the model's guard ended with the forward
  double scale = 0;
  const double logits = max_abs_difference(out.head.logits, ref.head.logits, &scale);
  INFO("logits: max |bf16 - f32| " << logits << " of " << scale);
  CHECK(logits > 0);
  CHECK(logits <= 2e-2 * scale);
  CHECK(std::abs(out.loss.item_double() - ref.loss.item_double()) <= 1e-2 * std::abs(ref.loss.item_double()));
  ref.loss.backward();
  out.loss.backward();
  const auto rp = f32->named_parameters(), op = bf16->named_parameters();
  for (size_t i = 0; i < rp.size(); ++i) {
    INFO(rp[i].first);
    CHECK(op[i].second.dtype() == DType::f32);
    REQUIRE(op[i].second.grad().defined() == rp[i].second.grad().defined());
    if (!rp[i].second.grad().defined()) continue;
    CHECK(op[i].second.grad().dtype() == DType::f32);
    // Norm-wise: single elements of small gradients can move more.
    const auto g = op[i].second.grad().to_vector<double>(), e = rp[i].second.grad().to_vector<double>();
    double diff = 0, norm = 0;
    for (size_t j = 0; j < e.size(); ++j) {
      diff += (g[j] - e[j]) * (g[j] - e[j]);
      norm += e[j] * e[j];
    }
    CHECK(std::sqrt(diff) <= 0.1 * std::sqrt(norm) + 1e-7);
  }
}

TEST_CASE("bf16 autocast: the similarity head is computed in f32 from the encoders' outputs", "[train][autocast]") {
  // meanP has no temporal encoder, so everything after the encoders is the head: it must give
  // exactly the f32 model's head on the same features.
  auto cfg = test::tiny_xclip_config("meanP");
  models::RetrievalModel bf16(cfg, test::tiny_clip_config(), ClipPrecision::bf16_autocast);
  models::RetrievalModel f32(cfg, test::tiny_clip_config(), ClipPrecision::f32);
  models::init_from_scratch(bf16, 4);
  models::init_from_scratch(f32, 4);
  const data::Batch b = batch_of(5, 2);
  NoGradGuard no_grad;
  const models::TextFeatures t = bf16.encode_text(b.input_ids, b.attention_mask);
  const models::VideoFeatures v = bf16.encode_video(b.video, b.video_mask);
  const models::TextFeatures t32 = f32.encode_text(b.input_ids, b.attention_mask);
  CHECK(t.words.to_vector<float>() != t32.words.to_vector<float>());  // the encoders did run in bf16
  CHECK(bf16.forward(b.input_ids, b.attention_mask, b.video, b.video_mask).head.logits.to_vector<float>() ==
        f32.head.forward(t, v, f32.logit_scale()).logits.to_vector<float>());
}

TEST_CASE("bf16 autocast: ten BertAdam steps stay near the f32 losses", "[train][autocast]") {
  auto f32 = model_with(ClipPrecision::f32, 5), bf16 = model_with(ClipPrecision::bf16_autocast, 5);
  train::BertAdamOptions options;
  options.t_total = 10;
  train::BertAdam opt32(groups(*f32), options), opt16(groups(*bf16), options);
  double worst = 0, first = 0, last32 = 0, last16 = 0;
  std::ostringstream trace;
  for (int step = 0; step < 10; ++step) {
    const data::Batch b = batch_of(8, 10 + uint64_t(step));
    double loss[2];
    for (int k = 0; k < 2; ++k) {
      models::RetrievalModel& m = k == 0 ? *f32 : *bf16;
      train::BertAdam& opt = k == 0 ? opt32 : opt16;
      opt.zero_grad();
      models::ModelOutput out = m.forward(b.input_ids, b.attention_mask, b.video, b.video_mask);
      out.loss.backward();
      opt.step();
      loss[k] = out.loss.item_double();
    }
    trace << " " << loss[0] << "/" << loss[1];
    if (step == 0) first = loss[0];
    last32 = loss[0];
    last16 = loss[1];
    worst = std::max(worst, std::abs(loss[1] - loss[0]) / loss[0]);
  }
  INFO("f32/bf16 losses:" << trace.str());
  INFO("losses: f32 " << first << " -> " << last32 << "; worst relative bf16 difference " << worst);
  // Both train (the comparison is over a moving trajectory). Adam normalises each update, so the
  // elements whose gradients bf16 rounding dominates get full-size updates of another sign: the
  // bf16 run lags the f32 one by a few percent (measured 4.5 % at most, 3.8 % at the end).
  CHECK(last32 < 0.75 * first);
  CHECK(last16 < 0.75 * first);
  CHECK(worst > 0);
  CHECK(worst <= 0.08);
  CHECK(std::abs(last16 - last32) <= 0.06 * last32);
}
