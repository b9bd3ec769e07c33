// The tape: gradient accumulation across uses and across backward calls, no-grad mode,
// the graph freed after backward, error cases.
#include <catch2/catch.hpp>

#include "xclip/autograd.hpp"
#include "xclip/ops.hpp"

using namespace xclip;

namespace {
Tensor leaf(std::vector<double> v) {
  Tensor t = Tensor::from_vector<double>(v, Shape{int64_t(v.size())});
  t.set_requires_grad(true);
  return t;
}
}  // namespace

TEST_CASE("a tensor used twice receives the sum of both gradients", "[autograd]") {
  Tensor x = leaf({1, 2, 3});
  Tensor y = ops::sum_all(ops::add(ops::mul(x, x), ops::scale(x, 3)));  // Σ x² + 3x
  y.backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{5, 7, 9});
}

TEST_CASE("gradients accumulate across backward calls until zero_grad", "[autograd]") {
  Tensor x = leaf({1, 2});
  ops::sum_all(ops::scale(x, 2)).backward();
  ops::sum_all(ops::scale(x, 3)).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{5, 5});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("no-grad guard records nothing", "[autograd]") {
  Tensor x = leaf({1, 2});
  Tensor y;
  {
    NoGradGuard guard;
    CHECK_FALSE(grad_enabled());
    y = ops::mul(x, x);
  }
  CHECK(grad_enabled());
  CHECK_FALSE(y.requires_grad());
  CHECK(y.grad_fn() == nullptr);
  CHECK_THROWS_WITH(ops::sum_all(y).backward(), Catch::Contains("does not require grad"));
}

TEST_CASE("the graph is freed after backward, a second backward says so", "[autograd]") {
  Tensor x = leaf({1, 2});
  Tensor y = ops::sum_all(ops::exp(x));
  std::weak_ptr<Node> node = y.grad_fn();
  y.backward();
  REQUIRE(y.grad_fn() != nullptr);
  CHECK(y.grad_fn()->inputs.empty());
  CHECK_THROWS_WITH(y.backward(), Catch::Contains("second time"));
}

TEST_CASE("saved tensors do not keep the graph alive after the output is dropped", "[autograd]") {
  Tensor x = leaf({1, 2, 3});
  std::weak_ptr<Node> node;
  {
    Tensor y = ops::exp(x);  // exp saves its output for the backward
    node = y.grad_fn();
    CHECK_FALSE(node.expired());
  }
  CHECK(node.expired());  // no reference cycle between the output and its node
}

TEST_CASE("backward needs a scalar or an explicit gradient of the output's shape", "[autograd][errors]") {
  Tensor x = leaf({1, 2});
  Tensor y = ops::scale(x, 2);
  CHECK_THROWS_WITH(y.backward(), Catch::Contains("non-scalar"));
  CHECK_THROWS_WITH(y.backward(Tensor::ones(Shape{3}, DType::f64)), Catch::Contains("[3]"));
  y.backward(Tensor::from_vector<double>({1, 10}, Shape{2}));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2, 20});
}

TEST_CASE("inputs that do not require grad get none", "[autograd]") {
  Tensor x = leaf({1, 2});
  Tensor c = Tensor::from_vector<double>({3, 4}, Shape{2});
  ops::sum_all(ops::mul(x, c)).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{3, 4});
  CHECK_FALSE(c.grad().defined());
}

TEST_CASE("a deep chain does not overflow the stack", "[autograd]") {
  Tensor x = leaf({1.0});
  Tensor y = x;
  for (int i = 0; i < 20000; ++i) y = ops::add_scalar(y, 1e-6);
  ops::sum_all(y).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1.0});
}

TEST_CASE("one backward from several outputs equals backward of the sum of <output, gradient>", "[autograd]") {
  auto grads_of = [](bool several_roots) {
    Tensor x = leaf({1, 2, 3});
    Tensor a = ops::mul(x, x);           // x²
    Tensor b = ops::scale(a, 3);         // 3x²: reaches x through a, which is a root too
    Tensor c = ops::sum_all(ops::mul(x, a));  // Σ x³ (a scalar root)
    const Tensor ga = Tensor::from_vector<double>({1, -1, 2}, Shape{3});
    const Tensor gb = Tensor::from_vector<double>({0.5, 0.25, -2}, Shape{3});
    const Tensor gc = Tensor::from_vector<double>({4}, Shape{});
    if (several_roots) {
      run_backward({b, a, c}, {gb, ga, gc});  // a root before its own input's other user
    } else {
      Tensor total = ops::add(ops::add(ops::sum_all(ops::mul(a, ga)), ops::sum_all(ops::mul(b, gb))), ops::scale(c, 4));
      total.backward();
    }
    return x.grad().to_vector<double>();
  };
  // d/dx: ga·2x + gb·6x + 4·3x² = (2 + 3 + 12, -4 + 3 + 48, 12 - 36 + 108)
  CHECK(grads_of(true) == std::vector<double>{17, 47, 84});
  CHECK(grads_of(false) == grads_of(true));
}

TEST_CASE("several roots: mismatched counts or shapes are errors", "[autograd][errors]") {
  Tensor x = leaf({1, 2});
  Tensor y = ops::mul(x, x);
  CHECK_THROWS_WITH(run_backward(std::vector<Tensor>{y}, std::vector<Tensor>{}), Catch::Contains("1 outputs but 0 gradients"));
  CHECK_THROWS_WITH(run_backward(std::vector<Tensor>{y}, std::vector<Tensor>{Tensor::zeros(Shape{3}, DType::f64)}),
                    Catch::Contains("gradient"));
}
