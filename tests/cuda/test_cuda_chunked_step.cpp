// The chunked step on the GPU (models/chunked_step.hpp): every parameter gradient of a chunked step
// on CUDA equals the one-graph step's on CUDA (batch 10 in chunks of 3), for X-CLIP in f32 and in
// the official fp16 regime; and --chunk_clips auto reads the device's memory.
#include "cuda_test_util.hpp"
#include "models/small_model_util.hpp"

#ifdef XCLIP_WITH_CUDA
#include <algorithm>
#include <map>

#include "xclip/core/device_memory.hpp"
#include "xclip/models/build.hpp"
#include "xclip/models/chunked_step.hpp"
#include "xclip/ops.hpp"
#include "xclip/train/trainer.hpp"

using namespace xclip;
using namespace xclip::models;

namespace {

std::unique_ptr<RetrievalModel> gpu_model(ClipPrecision precision) {
  auto model = from_scratch(test::small_clip_config(), test::small_head_config(), 13, precision);
  {
    NoGradGuard no_grad;
    Generator g(14);
    for (auto& [name, p] : model->named_parameters())
      if (!name.starts_with("clip.")) p.copy_(ops::add(p, Tensor::randn(p.shape(), g, p.dtype(), 0.0, 0.05)));
  }
  if (precision == ClipPrecision::official_fp16) model->clip.round_official_fp16_parameters();
  train::freeze_clip_layers(*model, 0);
  model->to(Device::cuda);
  return model;
}

std::map<std::string, std::vector<double>> step_gradients(RetrievalModel& model, const test::SmallInputs& in,
                                                          int64_t chunk) {
  for (auto& [name, p] : model.named_parameters()) p.zero_grad();
  if (chunk == 0) {
    model.forward(in.ids, in.attention, in.video, in.video_mask).loss.backward();
  } else {
    ChunkedStep step(model, in.ids, in.attention, in.video, in.video_mask, chunk);
    step.backward();
  }
  std::map<std::string, std::vector<double>> grads;
  for (auto& [name, p] : model.named_parameters()) {
    if (!p.grad().defined()) continue;
    REQUIRE(p.grad().device() == Device::cuda);
    grads[name] = p.grad().to_vector<double>();
  }
  return grads;
}

void check_on_gpu(ClipPrecision precision) {
  auto model = gpu_model(precision);
  const test::SmallInputs in = test::small_inputs(10, 21);
  const auto one = step_gradients(*model, in, 0), chunked = step_gradients(*model, in, 3);
  REQUIRE(one.size() == chunked.size());
  REQUIRE(one.size() > 20);
  for (const auto& [name, ref] : one) {
    INFO(name);
    REQUIRE(chunked.count(name));
    const std::vector<double>& got = chunked.at(name);
    double diff = 0, scale = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      diff = std::max(diff, std::abs(got[i] - ref[i]));
      scale = std::max(scale, std::abs(ref[i]));
    }
    CHECK(diff <= 1e-5 * std::max(scale, 1e-30));
  }
}

}  // namespace

TEST_CASE("cuda chunked step: gradients equal the one-graph step's on the GPU (f32)", "[cuda][chunked]") {
  XCLIP_REQUIRE_GPU();
  check_on_gpu(ClipPrecision::f32);
}

TEST_CASE("cuda chunked step: gradients equal the one-graph step's on the GPU (official fp16)", "[cuda][chunked]") {
  XCLIP_REQUIRE_GPU();
  check_on_gpu(ClipPrecision::official_fp16);
}

TEST_CASE("cuda chunked step: --chunk_clips auto measures the device's memory", "[cuda][chunked]") {
  XCLIP_REQUIRE_GPU();
  auto model = gpu_model(ClipPrecision::f32);
  const test::SmallInputs in = test::small_inputs(6, 3);
  const ChunkPlan plan = plan_chunk_clips(*model, in.ids, in.attention, in.video, in.video_mask);
  INFO(plan.str());
  CHECK(plan.bytes_per_clip > 0);
  CHECK(plan.bytes_head > 0);
  CHECK(plan.bytes_available > 0);
  CHECK(plan.bytes_available <= size_t(1) << 40);
  CHECK(plan.chunk_clips == 0);
  CHECK(plan_chunk_clips(*model, in.ids, in.attention, in.video, in.video_mask, 1e-12).chunk_clips == 1);
}

#endif  // XCLIP_WITH_CUDA
