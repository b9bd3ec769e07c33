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
