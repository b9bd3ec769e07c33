// Helpers for the gradient-check tests: seeded f64 inputs, a CHECK around xclip::gradcheck, and
// the largest elementwise difference of two tensors.
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "xclip/gradcheck.hpp"
#include "xclip/ops.hpp"

namespace xclip::test {

// f64 input with values uniform in [lo, hi), requiring grad.
inline Tensor param(const Shape& s, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Generator g(seed);
  Tensor t = Tensor::uniform(s, g, lo, hi, DType::f64);
  t.set_requires_grad(true);
  return t;
}

// f64 values N(0, sd²) from `seed` (no gradient asked).
inline Tensor randn_f64(const Shape& s, uint64_t seed, double sd = 1.0) {
  Generator g(seed);
  return Tensor::randn(s, g, DType::f64, 0.0, sd);
}

// max |a − b| over the elements (the same element count required).
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  REQUIRE(x.size() == y.size());
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}

// Same, but a constant (no gradient checked).
inline Tensor constant(const Shape& s, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Generator g(seed);
  return Tensor::uniform(s, g, lo, hi, DType::f64);
}

inline void check_gradients(const GradcheckFn& fn, const std::vector<Tensor>& inputs, double tol = 1e-6,
                            double step = GradcheckOptions{}.step) {
  GradcheckOptions opt;
  opt.tolerance = tol;
  opt.step = step;
  GradcheckResult r = gradcheck(fn, inputs, opt);
  INFO(r.report << "worst: " << r.worst);
  CHECK(r.ok);
  CHECK(r.max_error < tol);
}

}  // namespace xclip::test
