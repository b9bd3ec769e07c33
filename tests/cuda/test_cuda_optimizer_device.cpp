// Optimizer state follows the model to the GPU: BertAdam and AdamW built and stepped on the CPU,
// then moved with the model (model.to(cuda); optimizer.to(cuda)), take the CPU's steps within
// 1e-6 relative; before the optimizer is moved, a step refuses the CPU state by parameter name.
// (BertAdamFp16 moved with the model: tests/cuda/test_cuda_optimizer_fp16.cpp.)
#include <catch2/catch.hpp>

#include <cmath>

#include "cuda_test_util.hpp"
#include "train/train_test_util.hpp"
#include "xclip/train/optimizer.hpp"

#ifdef XCLIP_WITH_CUDA
using namespace xclip;
using namespace xclip::train;

namespace {
std::vector<ParamGroup> groups_of(models::RetrievalModel& model) {
  std::vector<ParamGroup> groups;
  for (auto& g : param_groups(model, 1e-3, 0.1, 0.2)) groups.push_back(g.group);
  return groups;
}

// The same gradients for both models at each step (so the optimizers alone are compared).
void set_gradients(models::RetrievalModel& model, int step) {
  uint64_t seed = 100 * uint64_t(step);
  for (auto& [name, p] : model.named_parameters()) {
    Generator g(seed++);
    p.set_grad(Tensor::randn(p.shape(), g, p.dtype(), 0.0, 0.1).to(p.device()));
  }
}

void expect_same_parameters(models::RetrievalModel& gpu, models::RetrievalModel& cpu) {
  auto a = gpu.named_parameters(), b = cpu.named_parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    test::expect_close(a[i].second.to(Device::cpu).to_vector<float>(), b[i].second.to_vector<float>(), 1e-6,
                       a[i].first, 1e-9);
  }
}

template <class Opt, class Options>
void check_follows_model(const Options& options) {
  auto cpu_model = test::tiny_model(11), gpu_model = test::tiny_model(11);
  Opt cpu_opt(groups_of(*cpu_model), options), gpu_opt(groups_of(*gpu_model), options);
  set_gradients(*cpu_model, 1);
  set_gradients(*gpu_model, 1);
  cpu_opt.step();
  gpu_opt.step();  // state made on the CPU
  gpu_model->to(Device::cuda);
  set_gradients(*gpu_model, 2);
  CHECK_THROWS_WITH(gpu_opt.step(), Catch::Contains("optimizer.to(cuda)") && Catch::Contains("clip."));
  gpu_opt.to(Device::cuda);
  CHECK(gpu_opt.state()[0][0].m.device() == Device::cuda);
  for (int step = 2; step <= 4; ++step) {
    set_gradients(*cpu_model, step);
    set_gradients(*gpu_model, step);
    cpu_opt.step();
    gpu_opt.step();
  }
  expect_same_parameters(*gpu_model, *cpu_model);
}
}  // namespace

TEST_CASE("cuda optimizer: BertAdam moved with the model to the GPU steps as on the CPU", "[cuda][optimizer]") {
  XCLIP_REQUIRE_GPU();
  BertAdamOptions o;
  o.t_total = 10;
  check_follows_model<BertAdam>(o);
}

TEST_CASE("cuda optimizer: AdamW moved with the model to the GPU steps as on the CPU", "[cuda][optimizer]") {
  XCLIP_REQUIRE_GPU();
  check_follows_model<AdamW>(AdamWOptions{});
}
#endif
