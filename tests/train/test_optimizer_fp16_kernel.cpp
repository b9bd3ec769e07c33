// The CPU kernels of the --official_fp16 optimizer (cpu::bert_adam_fp16_step and helpers): the
// exact fp16 norm against the sequential double sum it replaced, its independence of the order,
// f16 parameter storage against f32 storage, and the small helpers. The update itself is checked
// bit for bit against PyTorch through BertAdamFp16 (test_optimizer_fp16.cpp).
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "xclip/kernels/cpu.hpp"

using namespace xclip;

namespace {
float h(double x) { return f16_to_float(float_to_f16(float(x))); }  // nearest fp16 value

// Gradients spread over many binades: fp16 subnormals, normal values, values that round to 0.
std::vector<float> spread_values(size_t n, uint32_t seed, double lo_exp = -27, double hi_exp = 4) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> e(lo_exp, hi_exp), u(1, 2);
  std::bernoulli_distribution neg(0.5);
  std::vector<float> v(n);
  for (float& x : v) x = float((neg(gen) ? -1 : 1) * u(gen) * std::exp2(e(gen)));
  return v;
}

// The computation before the exact sum: Σ fp16(x)² in double, in index order, then √, f32, fp16.
float sequential_f16_norm(const std::vector<float>& x) {
  double s = 0;
  for (float v : x) s += double(h(v)) * double(h(v));
  return h(float(std::sqrt(s)));
}
}  // namespace

TEST_CASE("cpu::f16_norm: the exact sum agrees with the double sum and ignores the order", "[fp16][kernel]") {
  for (size_t n : {size_t(1), size_t(7), size_t(4097), size_t(30000)}) {
    std::vector<float> x = spread_values(n, uint32_t(n));
    const float norm = cpu::f16_norm(x.data(), int64_t(n));
    INFO("n = " << n);
    CHECK(norm == sequential_f16_norm(x));
    CHECK(h(norm) == norm);
    std::reverse(x.begin(), x.end());
    CHECK(cpu::f16_norm(x.data(), int64_t(n)) == norm);
    std::shuffle(x.begin(), x.end(), std::mt19937(3));
    CHECK(cpu::f16_norm(x.data(), int64_t(n)) == norm);
  }
  // The fp16 maximum squared and the smallest subnormal squared, together: still exact.
  const std::vector<float> extremes = {65504.0f, float(std::ldexp(1.0, -24)), -65504.0f};
  CHECK(cpu::f16_norm(extremes.data(), 3) == h(float(std::sqrt(2.0) * 65504.0)));
  const std::vector<float> overflow = {1e5f, 1.0f};  // rounds to fp16 inf
  CHECK(std::isinf(cpu::f16_norm(overflow.data(), 2)));
  const std::vector<float> nan = {1.0f, std::nanf(""), 1e5f};
  CHECK(std::isnan(cpu::f16_norm(nan.data(), 3)));
  CHECK(cpu::f16_norm(nullptr, 0) == 0.0f);
}

TEST_CASE("cpu::bert_adam_fp16_step: f16 parameter storage gives the f32 storage's values", "[fp16][kernel]") {
  const size_t n = 333;
  std::vector<float> p32 = spread_values(n, 11, -10, 1);
  for (float& x : p32) x = h(x);
  std::vector<f16_t> p16(n);
  for (size_t i = 0; i < n; ++i) p16[i] = float_to_f16(p32[i]);
  const std::vector<float> g = spread_values(n, 12, -27, 2);
  std::vector<f16_t> m32(n, f16_t{0}), v32(n, f16_t{0}), m16(n, f16_t{0}), v16(n, f16_t{0});
  cpu::Fp16AdamSlot a, b;
  a.param = p32.data();
  b.param_f16 = p16.data();
  for (cpu::Fp16AdamSlot* s : {&a, &b}) {
    s->grad = g.data();
    s->numel = int64_t(n);
    cpu::set_fp16_adam_scalars(*s, 1e-3, 0.2);
  }
  a.m = m32.data(), a.v = v32.data(), b.m = m16.data(), b.v = v16.data();
  const cpu::Fp16AdamConstants k = cpu::fp16_adam_constants(0.9, 0.98, 1e-6, 1.0);
  CHECK(k.clip);
  CHECK(k.clip_eps == h(1e-6));
  const std::vector<float> before = p32;
  for (int step = 0; step < 3; ++step) {
    cpu::bert_adam_fp16_step(&a, 1, k);
    cpu::bert_adam_fp16_step(&b, 1, k);
  }
  size_t moved = 0;
  for (size_t i = 0; i < n; ++i) {
    REQUIRE(f16_to_float(p16[i]) == p32[i]);
    REQUIRE(m16[i].bits == m32[i].bits);
    REQUIRE(v16[i].bits == v32[i].bits);
    moved += p32[i] != before[i];
  }
  CHECK(moved > 0);
}

TEST_CASE("cpu fp16 helpers: scale, divide, the fp16 value check", "[fp16][kernel]") {
  const float sub = float(std::ldexp(3.0, -24));  // an fp16 subnormal
  std::vector<float> x = {0.3f, sub};
  cpu::f16_scale(x.data(), 2, h(0.1));
  CHECK(x == std::vector<float>{h(h(0.3) * h(0.1)), 0.0f});
  x = {0.3f, sub};
  cpu::divide_by(x.data(), 2, 8.0f, true);
  CHECK(x == std::vector<float>{h(0.3) / 8, 0.0f});
  x = {0.3f, sub};
  cpu::divide_by(x.data(), 2, 3.0f, false);
  CHECK(x == std::vector<float>{0.3f / 3.0f, sub / 3.0f});
  const std::vector<float> values = {h(0.1), std::nanf(""), 0.1f, h(2.0)};
  CHECK(cpu::first_non_f16_value(values.data(), 2) == -1);
  CHECK(cpu::first_non_f16_value(values.data(), 4) == 2);
}
