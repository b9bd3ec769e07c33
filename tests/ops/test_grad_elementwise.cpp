// f64 finite-difference gradient checks: broadcasting binary ops, scalar ops, pointwise functions.
#include "grad_util.hpp"

using namespace xclip;
using xclip::test::check_gradients;
using xclip::test::param;

namespace {
using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);
const std::pair<const char*, BinaryFn> kBinary[] = {
    {"add", ops::add}, {"sub", ops::sub}, {"mul", ops::mul}, {"div", ops::div}};

// Shape pairs covering equal shapes, trailing-dim broadcast, middle broadcast, rank promotion on
// either side, a scalar, and both sides broadcasting at once.
const std::pair<Shape, Shape> kBroadcastCases[] = {
    {Shape{2, 3, 4}, Shape{2, 3, 4}}, {Shape{2, 3, 4}, Shape{4}},       {Shape{2, 3, 4}, Shape{3, 1}},
    {Shape{2, 3, 4}, Shape{2, 1, 4}}, {Shape{4}, Shape{2, 3, 4}},       {Shape{2, 3}, Shape{}},
    {Shape{2, 1, 4}, Shape{1, 3, 1}}, {Shape{3, 1}, Shape{1, 5}}};
}  // namespace

TEST_CASE("add/sub/mul/div gradients with broadcasting", "[grad][elementwise]") {
  for (const auto& [name, fn] : kBinary)
    for (const auto& [sa, sb] : kBroadcastCases) {
      DYNAMIC_SECTION(name << " " << sa.str() << " with " << sb.str()) {
        Tensor a = param(sa, 1);
        // Keep divisors away from zero.
        Tensor b = std::string(name) == "div" ? param(sb, 2, 0.5, 2.0) : param(sb, 2);
        check_gradients([fn = fn](const auto& in) { return fn(in[0], in[1]); }, {a, b});
      }
    }
}

TEST_CASE("the same tensor on both sides accumulates both gradients", "[grad][elementwise]") {
  Tensor a = param(Shape{3, 2}, 3);
  check_gradients([](const auto& in) { return ops::mul(in[0], in[0]); }, {a});
  check_gradients([](const auto& in) { return ops::add(ops::mul(in[0], in[0]), ops::exp(in[0])); }, {a});
}

TEST_CASE("scale, add_scalar, neg gradients", "[grad][elementwise]") {
  Tensor x = param(Shape{2, 5}, 4);
  check_gradients([](const auto& in) { return ops::scale(in[0], -3.5); }, {x});
  check_gradients([](const auto& in) { return ops::add_scalar(in[0], 2.0); }, {x});
  check_gradients([](const auto& in) { return ops::neg(in[0]); }, {x});
}

TEST_CASE("pointwise function gradients", "[grad][unary]") {
  Tensor x = param(Shape{3, 4}, 5, -3.0, 3.0);
  Tensor pos = param(Shape{3, 4}, 6, 0.2, 3.0);
  check_gradients([](const auto& in) { return ops::exp(in[0]); }, {x});
  check_gradients([](const auto& in) { return ops::tanh(in[0]); }, {x});
  check_gradients([](const auto& in) { return ops::sigmoid(in[0]); }, {x});
  check_gradients([](const auto& in) { return ops::quick_gelu(in[0]); }, {x});
  check_gradients([](const auto& in) { return ops::gelu(in[0]); }, {x});
  check_gradients([](const auto& in) { return ops::log(in[0]); }, {pos});
  check_gradients([](const auto& in) { return ops::sqrt(in[0]); }, {pos});
}

// Kinks at 0 (and 6): the points are kept a stencil's width away from them, where the derivative
// is 0 or 1 and the finite difference exact.
TEST_CASE("relu and relu6 gradients, values on both sides of every kink", "[grad][unary]") {
  Tensor x = Tensor::from_vector<double>({-2.5, -0.7, -0.1, 0.1, 0.9, 3.0, 5.8, 6.2, 7.5, 11.0}, Shape{2, 5});
  x.set_requires_grad(true);
  check_gradients([](const auto& in) { return ops::relu(in[0]); }, {x});
  check_gradients([](const auto& in) { return ops::relu6(in[0]); }, {x});
  const std::vector<double> r = ops::relu(x).to_vector<double>(), r6 = ops::relu6(x).to_vector<double>();
  const std::vector<double> want_r = {0, 0, 0, 0.1, 0.9, 3.0, 5.8, 6.2, 7.5, 11.0};
  const std::vector<double> want_r6 = {0, 0, 0, 0.1, 0.9, 3.0, 5.8, 6.0, 6.0, 6.0};
  CHECK(r == want_r);
  CHECK(r6 == want_r6);
}

TEST_CASE("relu and relu6 have PyTorch's zero derivative exactly at the kinks", "[unary]") {
  Tensor x = Tensor::from_vector<double>({0.0, 6.0, 3.0}, Shape{3});
  x.set_requires_grad(true);
  ops::sum_all(ops::relu6(x)).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0.0, 0.0, 1.0});
  Tensor y = Tensor::from_vector<double>({0.0, -1.0, 2.0}, Shape{3});
  y.set_requires_grad(true);
  ops::sum_all(ops::relu(y)).backward();
  CHECK(y.grad().to_vector<double>() == std::vector<double>{0.0, 0.0, 1.0});
}

TEST_CASE("bias_quick_gelu gradients (x and bias)", "[grad][unary]") {
  check_gradients([](const auto& in) { return ops::bias_quick_gelu(in[0], in[1]); },
                  {param(Shape{2, 3, 5}, 11, -3.0, 3.0), param(Shape{5}, 12)});
}

TEST_CASE("bias_quick_gelu is add then quick_gelu, bit for bit, forward and backward", "[unary]") {
  for (DType t : {DType::f32, DType::f64}) {
    Generator g(13);
    Tensor x = Tensor::randn(Shape{67, 129}, g, t, 0.0, 2.0), b = Tensor::randn(Shape{129}, g, t);
    const Tensor up = Tensor::randn(Shape{67, 129}, g, t);
    Tensor grads[2][2];
    std::vector<double> out[2];
    for (int fused = 0; fused < 2; ++fused) {
      Tensor xi = x.detach(), bi = b.detach();
      xi.set_requires_grad(true);
      bi.set_requires_grad(true);
      Tensor y = fused ? ops::bias_quick_gelu(xi, bi) : ops::quick_gelu(ops::add(xi, bi));
      y.backward(up);
      out[fused] = y.to_vector<double>();
      grads[fused][0] = xi.grad();
      grads[fused][1] = bi.grad();
    }
    CHECK(out[1] == out[0]);
    CHECK(grads[1][0].to_vector<double>() == grads[0][0].to_vector<double>());
    CHECK(grads[1][1].to_vector<double>() == grads[0][1].to_vector<double>());
  }
  CHECK_THROWS_WITH(ops::bias_quick_gelu(Tensor::zeros(Shape{2, 3}), Tensor::zeros(Shape{2})),
                    Catch::Contains("bias_quick_gelu") && Catch::Contains("[2, 3]"));
}

TEST_CASE("QuickGELU and GELU forward values", "[unary]") {
  Tensor x = Tensor::from_vector<double>({-2.0, -0.5, 0.0, 0.7, 3.0}, Shape{5});
  auto q = ops::quick_gelu(x).to_vector<double>();
  auto g = ops::gelu(x).to_vector<double>();
  const double xs[] = {-2.0, -0.5, 0.0, 0.7, 3.0};
  for (int i = 0; i < 5; ++i) {
    CHECK(q[size_t(i)] == Approx(xs[i] / (1 + std::exp(-1.702 * xs[i]))).epsilon(1e-14));
    CHECK(g[size_t(i)] == Approx(0.5 * xs[i] * (1 + std::erf(xs[i] / std::sqrt(2.0)))).epsilon(1e-14));
  }
}

TEST_CASE("broadcast mismatch names the op and both shapes", "[elementwise][errors]") {
  Tensor a = Tensor::zeros(Shape{2, 3}), b = Tensor::zeros(Shape{4});
  REQUIRE_THROWS_WITH(ops::add(a, b), Catch::Contains("add") && Catch::Contains("[2, 3]") && Catch::Contains("[4]"));
  Tensor c = Tensor::zeros(Shape{2, 3}, DType::f64);
  REQUIRE_THROWS_WITH(ops::mul(a, c), Catch::Contains("mul") && Catch::Contains("f64"));
}
