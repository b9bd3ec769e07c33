// The chunked step (models/chunked_step.hpp) gives the one-graph step's loss and every parameter
// gradient: batch 10 in chunks of 3 (an uneven last chunk), padded frames and words, the first
// CLIP layers frozen as --freeze_layer_num 0 does, for X-CLIP and the CLIP4Clip heads, f32 and the
// official fp16 regime; and --chunk_clips auto's plan from measured memory.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>

#include "models/small_model_util.hpp"
#include "test_util.hpp"
#include "xclip/core/device_memory.hpp"
#include "xclip/models/build.hpp"
#include "xclip/models/chunked_step.hpp"
#include "xclip/ops.hpp"
#include "xclip/train/trainer.hpp"

using namespace xclip;
using namespace xclip::models;

namespace {

// A small model with every parameter away from its initial value (the AOSM matrices start at the
// identity, the temporal encoder from CLIP's text blocks: spread them so a wrong gradient shows).
std::unique_ptr<RetrievalModel> spread_model(const HeadConfig& head, ClipPrecision precision, uint64_t seed) {
  auto model = from_scratch(test::small_clip_config(), test::small_head_config(head), seed, precision);
  NoGradGuard no_grad;
  Generator g(seed + 1);
  for (auto& [name, p] : model->named_parameters())
    if (!name.starts_with("clip.")) p.copy_(ops::add(p, Tensor::randn(p.shape(), g, p.dtype(), 0.0, 0.05)));
  if (precision == ClipPrecision::official_fp16) model->clip.round_official_fp16_parameters();
  train::freeze_clip_layers(*model, 0);
  return model;
}

struct StepResult {
  double loss = 0;
  std::map<std::string, Tensor> grads;  // trainable parameters that got a gradient
};

StepResult gradients(RetrievalModel& model, const test::SmallInputs& in, int64_t chunk, double scale) {
  for (auto& [name, p] : model.named_parameters()) p.zero_grad();
  StepResult r;
  if (chunk == 0) {
    ModelOutput out = model.forward(in.ids, in.attention, in.video, in.video_mask);
    r.loss = out.loss.item<double>();
    (scale == 1.0 ? out.loss : ops::scale(out.loss, scale)).backward();
  } else {
    ChunkedStep step(model, in.ids, in.attention, in.video, in.video_mask, chunk);
    r.loss = step.loss_value();
    step.backward(scale);
  }
  for (auto& [name, p] : model.named_parameters())
    if (p.grad().defined()) r.grads[name] = p.grad().to(DType::f64);
  return r;
}

// max |a - b| over max |b|, per tensor; the worst tensor's name in `worst`. A tensor whose max |a - b|
// is within `absolute` counts as equal (a gradient that is 0 in exact arithmetic, rounding noise).
double worst_relative_difference(const StepResult& a, const StepResult& b, std::string& worst, double absolute = 0) {
  double max_rel = 0;
  for (const auto& [name, ref] : b.grads) {
    const std::vector<double> x = a.grads.at(name).to_vector<double>(), y = ref.to_vector<double>();
    double diff = 0, scale = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      diff = std::max(diff, std::abs(x[i] - y[i]));
      scale = std::max(scale, std::abs(y[i]));
    }
    const double rel = diff <= absolute ? 0.0 : scale > 0 ? diff / scale : diff;
    if (rel >= max_rel) max_rel = rel, worst = name;
  }
  return max_rel;
}

void check_chunked_equals_one_graph(const HeadConfig& head, ClipPrecision precision, double tolerance,
                                    double absolute = 0) {
  auto model = spread_model(head, precision, 11);
  const test::SmallInputs in = test::small_inputs(10, 5);
  const StepResult one = gradients(*model, in, 0, 1.0);
  REQUIRE(one.grads.size() > 20);
  CHECK_FALSE(one.grads.count("clip.visual.conv1.weight"));  // frozen by --freeze_layer_num 0
  for (int64_t chunk : {3, 1, 10, 16}) {
    INFO("chunk " << chunk);
    const StepResult chunked = gradients(*model, in, chunk, 1.0);
    CHECK(chunked.loss == Approx(one.loss).epsilon(1e-6));
    REQUIRE(chunked.grads.size() == one.grads.size());
    for (const auto& [name, g] : one.grads) CHECK(chunked.grads.count(name));
    std::string worst;
    const double rel = worst_relative_difference(chunked, one, worst, absolute);
    INFO("worst relative difference " << rel << " in " << worst);
    CHECK(rel <= tolerance);
  }
}

}  // namespace

TEST_CASE("chunked step: X-CLIP (seqTransf) gradients equal the one-graph step's (f32)", "[models][chunked]") {
  check_chunked_equals_one_graph(HeadConfig{}, ClipPrecision::f32, 1e-5);
}

TEST_CASE("chunked step: CLIP4Clip meanP and seqTransf gradients equal the one-graph step's (f32)",
          "[models][chunked]") {
  check_chunked_equals_one_graph(HeadConfig::clip4clip("meanP"), ClipPrecision::f32, 1e-5);
  check_chunked_equals_one_graph(HeadConfig::clip4clip("seqTransf"), ClipPrecision::f32, 1e-5);
}

// The tight type: the head's cross encoder runs once on the gathered features in both steps, so its
// embedding dropout (on here, the README's 0.1) draws the same masks. similarity_dense.bias moves
// every logit alike, which the loss's softmaxes cancel: its gradient is 0 but for f32 rounding.
TEST_CASE("chunked step: the tight type's gradients equal the one-graph step's (f32, dropout on)",
          "[models][chunked][tight]") {
  check_chunked_equals_one_graph(
      HeadConfig::from_json({{"head", "ea_clip4clip"}, {"sim_header", "tightTransf"}, {"reduction_ratio", 2.0},
                             {"temporal_heads", 2}, {"hidden_dropout_prob", 0.1}}),
      ClipPrecision::f32, 1e-5, 1e-7);
}

// The official fp16 regime rounds every tower op's output to fp16. The recomputed towers see the
// same inputs as the first pass, so they round the same way; the tolerance is the f32 one.
TEST_CASE("chunked step: the official fp16 regime's gradients equal the one-graph step's", "[models][chunked][fp16]") {
  check_chunked_equals_one_graph(HeadConfig{}, ClipPrecision::official_fp16, 1e-5);
}

// bf16 autocast rounds the towers' GEMM operands to bf16; the recomputation rounds the same values.
TEST_CASE("chunked step: bf16 autocast gradients equal the one-graph step's", "[models][chunked][bf16]") {
  check_chunked_equals_one_graph(HeadConfig{}, ClipPrecision::bf16_autocast, 1e-5);
}

TEST_CASE("chunked step: a loss scale (gradient accumulation) scales every gradient as scale(loss) does",
          "[models][chunked]") {
  auto model = spread_model(HeadConfig{}, ClipPrecision::f32, 3);
  const test::SmallInputs in = test::small_inputs(7, 8);
  const StepResult one = gradients(*model, in, 0, 0.25);
  const StepResult chunked = gradients(*model, in, 2, 0.25);
  std::string worst;
  const double rel = worst_relative_difference(chunked, one, worst);
  INFO(worst);
  CHECK(rel <= 1e-5);
}

TEST_CASE("chunked step: bad use is refused", "[models][chunked][errors]") {
  auto model = spread_model(HeadConfig{}, ClipPrecision::f32, 3);
  const test::SmallInputs in = test::small_inputs(4, 8);
  CHECK_THROWS_WITH(ChunkedStep(*model, in.ids, in.attention, in.video, in.video_mask, 0),
                    Catch::Contains("chunk_clips must be >= 1"));
  const test::SmallInputs three = test::small_inputs(3, 8);
  CHECK_THROWS_WITH(ChunkedStep(*model, in.ids, in.attention, three.video, three.video_mask, 2),
                    Catch::Contains("4 captions for 3 clips"));
  ChunkedStep step(*model, in.ids, in.attention, in.video, in.video_mask, 2);
  step.backward();
  CHECK_THROWS_WITH(step.backward(), Catch::Contains("backward called twice"));
}

TEST_CASE("chunked step: --chunk_clips auto measures the memory and keeps the gradients", "[models][chunked]") {
  auto model = spread_model(HeadConfig{}, ClipPrecision::f32, 3);
  const test::SmallInputs in = test::small_inputs(6, 8);
  const StepResult before = gradients(*model, in, 0, 1.0);  // leaves gradients on the parameters
  const ChunkPlan plan = plan_chunk_clips(*model, in.ids, in.attention, in.video, in.video_mask);
  INFO(plan.str());
  CHECK(plan.batch == 6);
  CHECK(plan.bytes_per_clip > 0);
  CHECK(plan.bytes_head > 0);
  CHECK(plan.bytes_available > 0);
  CHECK(plan.chunk_clips == 0);  // a tiny model's batch of 6 fits this machine's memory
  // The probes put every gradient back: the same tensors, values and undefined ones undefined.
  for (auto& [name, p] : model->named_parameters()) {
    INFO(name);
    REQUIRE(p.grad().defined() == (before.grads.count(name) > 0));
    if (p.grad().defined()) CHECK(p.grad().to(DType::f64).to_vector<double>() == before.grads.at(name).to_vector<double>());
  }
  // With a budget smaller than the one graph the plan chunks; a tiny budget still gives 1 clip.
  const ChunkPlan tight = plan_chunk_clips(*model, in.ids, in.attention, in.video, in.video_mask, 1e-12);
  CHECK(tight.chunk_clips == 1);
}

TEST_CASE("tensor memory: host allocations are counted while alive, and the peak follows", "[core][memory]") {
  const size_t before = tensor_memory(Device::cpu).in_use;
  reset_tensor_memory_peak(Device::cpu);
  {
    Tensor big = Tensor::zeros(Shape{1000, 1000});  // 4 MB
    CHECK(tensor_memory(Device::cpu).in_use >= before + 4000000);
  }
  CHECK(tensor_memory(Device::cpu).in_use == before);
  CHECK(tensor_memory(Device::cpu).peak >= before + 4000000);
  reset_tensor_memory_peak(Device::cpu);
  CHECK(tensor_memory(Device::cpu).peak == before);
  CHECK(available_memory(Device::cpu) > 0);
}
