// The --official_fp16 optimizer on the GPU against the CPU, bit for bit: the kernels
// (cuda::bert_adam_fp16_step, f16_norm, f16_scale, divide_by, first_non_f16_value) against their
// CPU twins on awkward sizes and values (fp16 subnormals, v == 0, clipping on and off, f16 and
// f32 parameter storage, guard elements that must stay poisoned), and BertAdamFp16 with the
// fp16 global clip and the world-size gradient scale on a tiny official-fp16 X-CLIP, fed the same
// gradients on both devices.
#include <catch2/catch.hpp>

#include <cmath>
#include <iterator>
#include <memory>

#include "cuda_test_util.hpp"
#include "train/train_test_util.hpp"
#include "xclip/train/precision.hpp"

#ifdef XCLIP_WITH_CUDA
using namespace xclip;
using namespace xclip::test;

namespace {
constexpr size_t kGuard = 5;  // poisoned elements after each buffer's numel, which no kernel may touch

float h(double x) { return f16_to_float(float_to_f16(float(x))); }

// Values spread over binades 2^lo_exp .. 2^hi_exp with random signs, and some exact zeros: below
// 2^-14 they are fp16 subnormals, below 2^-25 they round to 0.
std::vector<float> spread_values(size_t n, uint32_t seed, double lo_exp, double hi_exp) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> e(lo_exp, hi_exp), u(1, 2);
  std::bernoulli_distribution neg(0.5), zero(0.05);
  std::vector<float> v(n);
  for (float& x : v) x = zero(gen) ? 0.0f : float((neg(gen) ? -1 : 1) * u(gen) * std::exp2(e(gen)));
  return v;
}

template <class T>
std::vector<T> with_guard(std::vector<T> v, T poison) {
  v.insert(v.end(), kGuard, poison);
  return v;
}

f16_t f16_poison() { return f16_t{0x7e00}; }

// One parameter's buffers on both sides (each with a poisoned guard tail).
struct Param {
  size_t n;
  bool f16_storage;
  std::vector<float> p32, g;
  std::vector<f16_t> p16, m, v;
  std::unique_ptr<DeviceBuffer<float>> d_p32, d_g;
  std::unique_ptr<DeviceBuffer<f16_t>> d_p16, d_m, d_v;

  Param(size_t n_, bool f16, uint32_t seed) : n(n_), f16_storage(f16) {
    std::vector<float> init = spread_values(n, seed, -12, 0);
    for (float& x : init) x = h(x);
    p32 = with_guard(init, poison_value<float>());
    p16.resize(n);
    for (size_t i = 0; i < n; ++i) p16[i] = float_to_f16(init[i]);
    p16 = with_guard(p16, f16_poison());
    m = with_guard(std::vector<f16_t>(n, f16_t{0}), f16_poison());
    v = m;
    d_p32 = std::make_unique<DeviceBuffer<float>>(p32);
    d_p16 = std::make_unique<DeviceBuffer<f16_t>>(p16);
    d_m = std::make_unique<DeviceBuffer<f16_t>>(m);
    d_v = std::make_unique<DeviceBuffer<f16_t>>(v);
  }
  // Gradients over binades that give v == 0 (|g| < 2^-11), subnormal m, and large values.
  void set_gradient(uint32_t seed, double scale_exp) {
    g = with_guard(spread_values(n, seed, -30 + scale_exp, 1 + scale_exp), poison_value<float>());
    d_g = std::make_unique<DeviceBuffer<float>>(g);
  }
  cpu::Fp16AdamSlot slot(bool device, double lr, double wd) {
    cpu::Fp16AdamSlot s;
    if (f16_storage)
      s.param_f16 = device ? d_p16->get() : p16.data();
    else
      s.param = device ? d_p32->get() : p32.data();
    s.grad = device ? d_g->get() : g.data();
    s.m = device ? d_m->get() : m.data();
    s.v = device ? d_v->get() : v.data();
    s.numel = int64_t(n);
    cpu::set_fp16_adam_scalars(s, lr, wd);
    return s;
  }
  void expect_same(const std::string& what) const {
    expect_equal(d_p32->download(), p32, what + " f32 parameter");
    expect_equal(d_p16->download(), p16, what + " f16 parameter");
    expect_equal(d_m->download(), m, what + " m");
    expect_equal(d_v->download(), v, what + " v");
    expect_equal(d_g->download(), g, what + " gradient (never written)");
  }
};
}  // namespace

TEST_CASE("cuda::bert_adam_fp16_step equals the CPU kernel bit for bit", "[cuda][optimizer][fp16]") {
  XCLIP_REQUIRE_GPU();
  const size_t sizes[] = {1, 37, 4095, 4097, 0, 8193, 333};
  std::vector<std::unique_ptr<Param>> params;
  for (size_t i = 0; i < std::size(sizes); ++i)
    params.push_back(std::make_unique<Param>(sizes[i], /*f16_storage=*/i % 3 == 2, uint32_t(10 + i)));
  for (double max_grad_norm : {1.0, 0.0}) {
    DYNAMIC_SECTION("max_grad_norm " << max_grad_norm) {
      const cpu::Fp16AdamConstants k = cpu::fp16_adam_constants(0.9, 0.98, 1e-6, max_grad_norm);
      for (int step = 0; step < 4; ++step) {
        std::vector<cpu::Fp16AdamSlot> host, device;
        for (size_t i = 0; i < params.size(); ++i) {
          // Some parameters get gradients with norms above max_grad_norm (clipped), some below.
          params[i]->set_gradient(uint32_t(100 * step + i), i % 2 ? -8.0 : 2.0);
          const double lr = (i % 2 ? 1e-3 : 1e-7) * (step + 1), wd = i % 4 == 0 ? 0.0 : 0.2;
          host.push_back(params[i]->slot(false, lr, wd));
          device.push_back(params[i]->slot(true, lr, wd));
        }
        cpu::bert_adam_fp16_step(host.data(), int64_t(host.size()), k);
        cuda::bert_adam_fp16_step(device.data(), int64_t(device.size()), k);
        for (size_t i = 0; i < params.size(); ++i)
          params[i]->expect_same("step " + std::to_string(step) + " #" + std::to_string(i));
      }
    }
  }
}

TEST_CASE("cuda fp16 helpers equal the CPU's: norm, scale, divide, the fp16 value check", "[cuda][optimizer][fp16]") {
  XCLIP_REQUIRE_GPU();
  for (size_t n : {size_t(1), size_t(4097), size_t(1 << 20) + 3}) {
    const std::vector<float> x = with_guard(spread_values(n, uint32_t(n), -30, 4), poison_value<float>());
    DeviceBuffer<float> d(x);
    INFO("n = " << n);
    CHECK(cuda::f16_norm(d.get(), int64_t(n)) == cpu::f16_norm(x.data(), int64_t(n)));
    std::vector<float> y = x;
    cpu::f16_scale(y.data(), int64_t(n), h(0.0769));
    cuda::f16_scale(d.get(), int64_t(n), h(0.0769));
    expect_equal(d.download(), y, "f16_scale");
    for (bool in_f16 : {true, false})
      for (float world : {8.0f, 3.0f}) {
        cpu::divide_by(y.data(), int64_t(n), world, in_f16);
        cuda::divide_by(d.get(), int64_t(n), world, in_f16);
        expect_equal(d.download(), y, "divide_by");
      }
  }
  const std::vector<float> inf = {1.0f, 1e5f}, nan = {std::nanf(""), 1.0f};
  DeviceBuffer<float> d_inf(inf), d_nan(nan);
  CHECK(std::isinf(cuda::f16_norm(d_inf.get(), 2)));
  CHECK(std::isnan(cuda::f16_norm(d_nan.get(), 2)));
  CHECK(cuda::f16_norm(nullptr, 0) == 0.0f);

  std::vector<float> values = spread_values(100000, 7, -20, 3);
  for (float& x : values) x = h(x);
  values[99] = std::nanf("");  // NaN counts as an fp16 value
  DeviceBuffer<float> d_values(values);
  CHECK(cuda::first_non_f16_value(d_values.get(), int64_t(values.size())) == -1);
  values[70000] = 0.1f;
  values[5000] = 1.0f + 1e-6f;
  d_values.upload(values);
  CHECK(cuda::first_non_f16_value(d_values.get(), int64_t(values.size())) == 5000);
  CHECK(cpu::first_non_f16_value(values.data(), int64_t(values.size())) == 5000);
}

// ---- BertAdamFp16 on a tiny official-fp16 X-CLIP ------------------------------------------------------
namespace {
std::unique_ptr<models::RetrievalModel> fp16_model(uint64_t seed) {
  auto m = std::make_unique<models::RetrievalModel>(tiny_xclip_config(), tiny_clip_config(),
                                           models::ClipPrecision::official_fp16);
  models::init_from_scratch(*m, seed);
  m->clip.round_official_fp16_parameters();
  return m;
}

std::vector<train::ParamGroup> groups_of(models::RetrievalModel& model) {
  std::vector<train::ParamGroup> groups;
  for (auto& g : train::param_groups(model, 1e-3, 0.1, 0.2)) groups.push_back(g.group);
  return groups;
}

// The same gradients for both models (large enough that the global clip and the per-parameter
// clip act; some tiny, so that fp16 rounds them to subnormals or 0).
void set_gradients(models::RetrievalModel& gpu, models::RetrievalModel& cpu, int step) {
  auto a = gpu.named_parameters(), b = cpu.named_parameters();
  for (size_t i = 0; i < a.size(); ++i) {
    const auto g = spread_values(size_t(b[i].second.numel()), uint32_t(1000 * step + i), -28, i % 3 ? -6 : 1);
    b[i].second.set_grad(Tensor::from_vector<float>(g, b[i].second.shape()));
    a[i].second.set_grad(Tensor::from_vector<float>(g, a[i].second.shape()).to(a[i].second.device()));
  }
}

// fp16 parameters and their gradients bitwise; fp32 ones as the f32 BertAdam's CUDA tests compare
// them (its per-parameter clip sums doubles in another order on the GPU).
void expect_same_model(models::RetrievalModel& gpu, models::RetrievalModel& cpu, const std::string& when) {
  auto a = gpu.named_parameters(), b = cpu.named_parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const std::string what = when + " " + b[i].first;
    const auto got = a[i].second.to(Device::cpu).to_vector<float>(), want = b[i].second.to_vector<float>();
    const bool fp16 = train::is_official_fp16_name(b[i].first);
    if (fp16)
      expect_equal(got, want, what);
    else
      expect_close(got, want, 1e-6, what, 1e-9);
    if (!b[i].second.grad().defined()) continue;
    const auto got_g = a[i].second.grad().to(Device::cpu).to_vector<float>();
    const auto want_g = b[i].second.grad().to_vector<float>();
    if (fp16)
      expect_equal(got_g, want_g, what + " gradient");
    else  // the f32 BertAdam wrote its per-parameter clip back
      expect_close(got_g, want_g, 1e-6, what + " gradient", 1e-9);
  }
}
}  // namespace

TEST_CASE("cuda BertAdamFp16: an official-fp16 X-CLIP steps as on the CPU, bit for bit", "[cuda][optimizer][fp16]") {
  XCLIP_REQUIRE_GPU();
  auto cpu_model = fp16_model(21), gpu_model = fp16_model(21);
  train::BertAdamOptions o;
  o.t_total = 6;
  train::BertAdamFp16 cpu_opt(groups_of(*cpu_model), o, cpu_model->named_parameters());
  // Built on the CPU and stepped once there, then moved with the model (the checkpoint-resume path).
  train::BertAdamFp16 gpu_opt(groups_of(*gpu_model), o, gpu_model->named_parameters());
  REQUIRE(gpu_opt.num_fp16_parameters() > 0);
  for (int step = 0; step < 4; ++step) {
    if (step == 1) {
      gpu_model->to(Device::cuda);
      set_gradients(*gpu_model, *cpu_model, step);
      CHECK_THROWS_WITH(gpu_opt.step(), Catch::Contains("optimizer.to(cuda)"));
      gpu_opt.to(Device::cuda);
    }
    set_gradients(*gpu_model, *cpu_model, step);
    train::scale_pre_gather_gradients(*cpu_model, 4);
    train::scale_pre_gather_gradients(*gpu_model, 4);
    const double cpu_norm = train::clip_grad_norm_official_fp16(cpu_model->named_parameters(), 1.0);
    const double gpu_norm = train::clip_grad_norm_official_fp16(gpu_model->named_parameters(), 1.0);
    CHECK(cpu_norm > 1.0);  // the global clip scales
    CHECK(gpu_norm == cpu_norm);
    cpu_opt.step();
    gpu_opt.step();
    expect_same_model(*gpu_model, *cpu_model, "step " + std::to_string(step));
  }
  for (const auto& group : gpu_opt.fp16_state())
    for (const auto& st : group)
      if (st.m.defined()) CHECK(st.m.device() == Device::cuda);
}

TEST_CASE("cuda BertAdamFp16: one device for all parameters, fp16 values checked there", "[cuda][optimizer][fp16]") {
  XCLIP_REQUIRE_GPU();
  Tensor w16 = Tensor::from_vector<float>({h(0.25), h(-0.5), h(3.0)}, Shape{3}).to(Device::cuda);
  Tensor w32 = Tensor::from_vector<float>({0.1f}, Shape{1});
  w16.set_requires_grad(true).set_name("clip.visual.proj");
  w32.set_requires_grad(true).set_name("clip.ln_final.weight");
  CHECK_THROWS_WITH(train::BertAdamFp16({{"g", {w16, w32}, 1e-2, 0.2}}, train::BertAdamOptions{}),
                    Catch::Contains("all parameters must be on one device"));
  Tensor unrounded = Tensor::from_vector<float>({h(0.5), 0.1f}, Shape{2}).to(Device::cuda);
  unrounded.set_requires_grad(true).set_name("clip.text_projection");
  CHECK_THROWS_WITH(train::BertAdamFp16({{"g", {unrounded}, 1e-2, 0.0}}, train::BertAdamOptions{}),
                    Catch::Contains("element 1") && Catch::Contains("not an fp16 value"));
  train::BertAdamFp16 ok({{"g", {w16}, 1e-2, 0.0}}, train::BertAdamOptions{});
  w16.set_grad(Tensor::from_vector<float>({0.3f, -0.1f, 1e-7f}, Shape{3}).to(Device::cuda));
  ok.step();
  for (float x : w16.to(Device::cpu).to_vector<float>()) CHECK(h(x) == x);
}
#endif
