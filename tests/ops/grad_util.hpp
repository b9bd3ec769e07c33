// Helpers for the gradient-check tests: seeded f64 inputs and a CHECK around xclip::gradcheck.
#pragma once
#include <catch2/catch.hpp>

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
