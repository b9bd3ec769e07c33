// The gradient checker itself must catch wrong backwards: an op with a deliberately wrong
// gradient fails, the same op with the right gradient passes.
#include "grad_util.hpp"

using namespace xclip;

namespace {
// y = x³ with a backward scaled by `factor` (1 = correct).
Tensor cube(const Tensor& x, double factor) {
  Tensor y = Tensor::empty(x.shape(), DType::f64);
  for (int64_t i = 0; i < x.numel(); ++i) y.data<double>()[i] = std::pow(x.data<double>()[i], 3);
  return record("cube", y, {x}, [x = x.detach(), factor](const Tensor& g) {
    Tensor gx = Tensor::empty(x.shape(), DType::f64);
    for (int64_t i = 0; i < x.numel(); ++i)
      gx.data<double>()[i] = factor * 3 * std::pow(x.data<double>()[i], 2) * g.data<double>()[i];
    return std::vector<Tensor>{gx};
  });
}
}  // namespace

TEST_CASE("gradcheck passes a correct backward and fails a wrong one", "[grad][gradcheck]") {
  Tensor x = xclip::test::param(Shape{2, 3}, 1);
  GradcheckResult good = gradcheck([](const auto& in) { return cube(in[0], 1.0); }, {x});
  CHECK(good.ok);
  CHECK(good.max_error < 1e-9);
  GradcheckResult off = gradcheck([](const auto& in) { return cube(in[0], 1.0 + 1e-5); }, {x});
  CHECK_FALSE(off.ok);
  CHECK(off.max_error == Approx(1e-5).epsilon(0.01));
  GradcheckResult none = gradcheck([](const auto& in) { return cube(in[0].detach(), 1.0); }, {x});
  CHECK_FALSE(none.ok);  // no gradient reached the input at all
}
