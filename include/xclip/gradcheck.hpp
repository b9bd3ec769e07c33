// Finite-difference gradient checking in float64.
// The function's output is projected on fixed random weights R (L = Σ out ⊙ R), the analytic
// gradient of L comes from backward(), and the numerical one from a 4-point central stencil
//   dL/dx ≈ (8(L(x+h) − L(x−h)) − (L(x+2h) − L(x−2h))) / (12h)
// (truncation O(h⁴), so sharp functions such as softmax with τ = 0.01 are checked accurately),
// for EVERY element of every input that requires grad.
// Element error = |a − n| / max(|a|, |n|, floor), floor = 1e-3·max|n| over that input + 1e-12,
// so elements whose true gradient is ~0 are compared on the tensor's own scale.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "xclip/core/tensor.hpp"

namespace xclip {

struct GradcheckOptions {
  double step = 1e-5;
  double tolerance = 1e-6;
  uint64_t seed = 1234;  // for the projection weights
};

struct GradcheckResult {
  bool ok = true;
  double max_error = 0;    // worst element error over all inputs
  std::string worst;       // "input 1 element 7: analytic …, numeric …"
  std::string report;      // one line per checked input
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// `inputs` must be f64 CPU tensors; those with requires_grad are checked (they are perturbed in
// place and restored). Throws if an input that requires grad receives no gradient but the
// numerical one is non-zero (reported as a failure instead).
GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace xclip
