#include "xclip/gradcheck.hpp"

#include <cmath>
#include <sstream>

#include "xclip/autograd.hpp"
#include "xclip/ops.hpp"

namespace xclip {

namespace {
double projected(const Tensor& out, const Tensor& weights) {
  XCLIP_CHECK(out.dtype() == DType::f64, "gradcheck: the function must return f64, got ", out.str());
  XCLIP_CHECK(out.shape() == weights.shape(), "gradcheck: output shape changed between calls: ", out.str());
  const double* o = out.data<double>();
  const double* w = weights.data<double>();
  double s = 0;
  for (int64_t i = 0; i < out.numel(); ++i) s += o[i] * w[i];
  return s;
}
}  // namespace

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& opt) {
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad())
      XCLIP_CHECK(t.dtype() == DType::f64 && t.device() == Device::cpu,
                  "gradcheck: inputs that require grad must be f64 CPU tensors, got ", t.str());
  // Analytic gradients of L = Σ out ⊙ R.
  for (Tensor t : inputs)
    if (t.defined()) t.zero_grad();
  Tensor out = fn(inputs);
  Generator gen(opt.seed);
  Tensor R = Tensor::uniform(out.shape(), gen, -1.0, 1.0, DType::f64);
  Tensor loss = ops::sum_all(ops::mul(out, R));
  if (loss.requires_grad()) loss.backward();  // else: every analytic gradient is zero

  GradcheckResult result;
  std::ostringstream report;
  NoGradGuard no_grad;
  auto L = [&]() { return projected(fn(inputs), R); };
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor x = inputs[k];
    if (!x.defined() || !x.requires_grad()) continue;
    Tensor analytic = x.grad().defined() ? x.grad() : Tensor::zeros(x.shape(), DType::f64);
    const double* a = analytic.data<double>();
    double* xv = x.data<double>();
    const double h = opt.step;
    std::vector<double> numeric(size_t(x.numel()));
    double scale = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double x0 = xv[i];
      xv[i] = x0 + h;     const double p1 = L();
      xv[i] = x0 - h;     const double m1 = L();
      xv[i] = x0 + 2 * h; const double p2 = L();
      xv[i] = x0 - 2 * h; const double m2 = L();
      xv[i] = x0;
      numeric[size_t(i)] = (8 * (p1 - m1) - (p2 - m2)) / (12 * h);
      scale = std::max(scale, std::abs(numeric[size_t(i)]));
    }
    const double floor = 1e-3 * scale + 1e-12;
    double worst = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double n = numeric[size_t(i)];
      const double err = std::abs(a[i] - n) / std::max({std::abs(a[i]), std::abs(n), floor});
      if (err > worst) worst = err;
      if (err > result.max_error) {
        result.max_error = err;
        std::ostringstream w;
        w << "input " << k << " " << x.shape().str() << " element " << i << ": analytic " << a[i] << ", numeric " << n;
        result.worst = w.str();
      }
    }
    report << "input " << k << " " << x.shape().str() << ": max relative error " << worst << "\n";
  }
  result.ok = result.max_error < opt.tolerance;
  result.report = report.str();
  return result;
}

}  // namespace xclip
