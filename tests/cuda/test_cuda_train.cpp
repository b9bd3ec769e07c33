// The training loop and evaluation with the model on the GPU: the same losses as on the CPU (within
// float tolerance: other kernels, other summation orders), checkpoints written from the GPU and a
// resumed GPU run continuing the uninterrupted one. Skipped without a CUDA device.
#include <catch2/catch.hpp>

#include "cuda_test_util.hpp"
#include "train/train_test_util.hpp"
#include "xclip/train/evaluate.hpp"
#include "xclip/train/train_checkpoint.hpp"
#include "xclip/train/train_log.hpp"

#ifdef XCLIP_WITH_CUDA
using namespace xclip;
using namespace xclip::train;
namespace fs = std::filesystem;

namespace {
std::vector<double> run(const fs::path& dir, Device device, int64_t stop_after = -1, bool resume = false,
                        uint64_t seed = 31) {
  auto model = test::tiny_model(seed);
  model->to(device);
  test::ToySource source(24, 6, 6, 2);
  TrainOptions o = test::quiet_train_options(dir, 2);
  o.stop_after_epoch = stop_after;
  Trainer trainer(*model, source, o);
  if (resume) trainer.resume(dir);
  trainer.run();
  return step_losses(read_train_log(dir / "train_log.jsonl"));
}
}  // namespace

TEST_CASE("cuda train: GPU losses follow the CPU's, checkpoints and resume work from the GPU", "[cuda][train]") {
  XCLIP_REQUIRE_GPU();
  const auto cpu = run(test::temp_dir("cuda_train_cpu"), Device::cpu);
  const fs::path gpu_dir = test::temp_dir("cuda_train_gpu");
  const auto gpu = run(gpu_dir, Device::cuda);
  REQUIRE(cpu.size() == 8);
  REQUIRE(gpu.size() == cpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    INFO("step " << i + 1);
    CHECK(gpu[i] == Approx(cpu[i]).epsilon(2e-3));
  }
  const fs::path resumed = test::temp_dir("cuda_train_resumed");
  run(resumed, Device::cuda, 0);
  const auto again = run(resumed, Device::cuda, -1, true, 999);
  REQUIRE(again.size() == gpu.size());
  for (size_t i = 0; i < gpu.size(); ++i) CHECK(again[i] == Approx(gpu[i]).epsilon(1e-5));
  CHECK(fs::exists(checkpoint_dir(gpu_dir, 1) / "optimizer.safetensors"));
}

TEST_CASE("cuda train: evaluation on the GPU gives the CPU's similarity", "[cuda][evaluate]") {
  XCLIP_REQUIRE_GPU();
  auto model = test::tiny_model(5);
  test::ToySource pairs(10, 4, 10);
  pairs.shuffle = false;
  pairs.drop_last = false;
  data::EvalInputs in;
  in.texts = in.videos = &pairs;
  const EvalResult cpu = evaluate(*model, in);
  model->to(Device::cuda);
  const EvalResult gpu = evaluate(*model, in);
  REQUIRE(gpu.sim.device() == Device::cpu);
  const auto a = cpu.sim.to_vector<float>(), b = gpu.sim.to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) CHECK(b[i] == Approx(a[i]).margin(1e-3));
}
#endif
