// The fused GPU optimizer steps against the CPU optimizers themselves (xclip::train::BertAdam,
// AdamW): several parameter groups, sizes across chunk boundaries, scheduled learning rates,
// per-parameter clipping, three steps; parameters, moments and (clipped) gradients compared.
#include "cuda_test_util.hpp"

#ifdef XCLIP_WITH_CUDA
#include <memory>

#include "xclip/train/optimizer.hpp"

using namespace xclip;
using namespace xclip::test;

namespace {

// Sizes around the kernels' 4096-element chunks, plus a single element.
const int64_t kSizes[] = {1, 37, 4096, 8193};

// One parameter mirrored on the GPU.
template <class T>
struct GpuParam {
  DeviceBuffer<T> p, g, m, v;
  explicit GpuParam(const std::vector<T>& init)
      : p(init), g(init.size()), m(std::vector<T>(init.size(), T(0))), v(std::vector<T>(init.size(), T(0))) {}
};

template <class T>
struct Fixture {
  std::vector<train::ParamGroup> groups;
  std::vector<std::unique_ptr<GpuParam<T>>> gpu;  // in group order
  std::vector<Tensor> cpu;                        // the same parameters on the CPU

  explicit Fixture(uint32_t seed) {
    const double lrs[2] = {1e-3, 5e-4}, wds[2] = {0.2, 0.0};
    for (int gi = 0; gi < 2; ++gi) {
      train::ParamGroup group;
      group.name = gi == 0 ? "decay" : "no_decay";
      group.lr = lrs[gi];
      group.weight_decay = wds[gi];
      for (int64_t n : kSizes) {
        const auto init = random_vector<T>(size_t(n), seed++);
        Tensor t = Tensor::from_vector<T>(init, Shape{n});
        group.params.push_back(t);
        cpu.push_back(t);
        gpu.push_back(std::make_unique<GpuParam<T>>(init));
      }
      groups.push_back(group);
    }
  }

  // The same random gradient on both sides.
  void set_gradients(uint32_t seed) {
    for (size_t i = 0; i < cpu.size(); ++i) {
      const auto g = random_vector<T>(size_t(cpu[i].numel()), seed + uint32_t(i));
      cpu[i].set_grad(Tensor::from_vector<T>(g, cpu[i].shape()));
      gpu[i]->g.upload(g);
    }
  }

  // GPU slots with each group's lr (times `lr_factor`) and weight decay; `step` for AdamW.
  std::vector<cuda::AdamSlot<T>> slots(double lr_factor, int64_t step) const {
    std::vector<cuda::AdamSlot<T>> out;
    size_t i = 0;
    for (const train::ParamGroup& group : groups)
      for (size_t k = 0; k < group.params.size(); ++k, ++i) {
        cuda::AdamSlot<T> s;
        s.param = gpu[i]->p.get();
        s.grad = gpu[i]->g.get();
        s.m = gpu[i]->m.get();
        s.v = gpu[i]->v.get();
        s.numel = cpu[i].numel();
        s.lr = group.lr * lr_factor;
        s.weight_decay = group.weight_decay;
        s.step = step;
        out.push_back(s);
      }
    return out;
  }

  template <class State>
  void compare(State& state, bool compare_grad, const std::string& what) const {
    const double rtol = std::is_same_v<T, float> ? 1e-6 : 1e-12, atol = std::is_same_v<T, float> ? 1e-9 : 1e-15;
    size_t i = 0;
    for (size_t gi = 0; gi < groups.size(); ++gi)
      for (size_t k = 0; k < groups[gi].params.size(); ++k, ++i) {
        const std::string name = what + " group " + std::to_string(gi) + " param " + std::to_string(k);
        expect_close(gpu[i]->p.download(), cpu[i].to_vector<T>(), rtol, name + " p", atol);
        expect_close(gpu[i]->m.download(), state[gi][k].m.template to_vector<T>(), rtol, name + " m", atol);
        expect_close(gpu[i]->v.download(), state[gi][k].v.template to_vector<T>(), rtol, name + " v", atol);
        if (compare_grad) expect_close(gpu[i]->g.download(), cpu[i].grad().to_vector<T>(), rtol, name + " grad", atol);
      }
  }
};

template <class T>
void check_bert_adam(double max_grad_norm) {
  Fixture<T> f(10);
  train::BertAdamOptions options;
  options.t_total = 20;
  options.warmup = 0.1;
  options.schedule = train::Schedule::warmup_cosine;
  options.max_grad_norm = max_grad_norm;
  train::BertAdam cpu_opt(f.groups, options);
  for (int64_t step = 0; step < 3; ++step) {
    f.set_gradients(uint32_t(100 + 10 * step));
    cpu_opt.step();
    // lr_t = lr · schedule(step / t_total), the step counted before this update.
    const double factor = train::schedule_factor(options.schedule, double(step) / options.t_total, options.warmup);
    const auto slots = f.slots(factor, 0);
    cuda::bert_adam_step<T>(slots.data(), int64_t(slots.size()), options.b1, options.b2, options.e, max_grad_norm);
    f.compare(cpu_opt.state(), /*compare_grad=*/true, "bert_adam step " + std::to_string(step));
  }
}

template <class T>
void check_adamw() {
  Fixture<T> f(50);
  train::AdamWOptions options;
  options.b2 = 0.98;
  train::AdamW cpu_opt(f.groups, options);
  for (int64_t step = 1; step <= 3; ++step) {
    f.set_gradients(uint32_t(300 + 10 * step));
    cpu_opt.step();
    const auto slots = f.slots(1.0, step);  // constant schedule; step after incrementing
    cuda::adamw_step<T>(slots.data(), int64_t(slots.size()), options.b1, options.b2, options.eps);
    f.compare(cpu_opt.state(), /*compare_grad=*/false, "adamw step " + std::to_string(step));
  }
}

}  // namespace

TEST_CASE("cuda bert_adam_step reproduces the CPU BertAdam with per-parameter clipping", "[cuda][optimizer]") {
  XCLIP_REQUIRE_GPU();
  check_bert_adam<float>(1.0);
  check_bert_adam<double>(1.0);
}

TEST_CASE("cuda bert_adam_step reproduces the CPU BertAdam without clipping", "[cuda][optimizer]") {
  XCLIP_REQUIRE_GPU();
  check_bert_adam<float>(0.0);
  check_bert_adam<double>(-1.0);
}

TEST_CASE("cuda adamw_step reproduces the CPU AdamW", "[cuda][optimizer]") {
  XCLIP_REQUIRE_GPU();
  check_adamw<float>();
  check_adamw<double>();
}

TEST_CASE("cuda optimizer steps reject malformed slots", "[cuda][optimizer]") {
  XCLIP_REQUIRE_GPU();
  cuda::AdamSlot<float> s;
  s.numel = 10;  // null buffers
  CHECK_THROWS_AS(cuda::bert_adam_step<float>(&s, 1, 0.9, 0.98, 1e-6, 1.0), Error);
  DeviceBuffer<float> buf(10);
  s.param = s.grad = s.m = s.v = buf.get();
  s.step = 0;  // AdamW needs the count after incrementing
  CHECK_THROWS_AS(cuda::adamw_step<float>(&s, 1, 0.9, 0.98, 1e-8), Error);
}

#else
TEST_CASE("cuda optimizer: skipped in a build without CUDA", "[cuda][optimizer]") { XCLIP_SKIP("built without CUDA"); }
#endif
