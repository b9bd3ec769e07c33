// Gradient-norm clipping as torch.nn.utils.clip_grad_norm_ (L2).
#include <cmath>

#include "xclip/train/optimizer.hpp"

namespace xclip::train {

namespace {
template <class T>
double sum_squares(const Tensor& g) {
  const T* p = g.data<T>();
  const int64_t n = g.numel();  // hoisted: Shape::numel is a loop over the dims
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(p[i]) * double(p[i]);
  return s;
}

double grad_sum_squares(const Tensor& g) {
  XCLIP_CHECK(g.device() == Device::cpu, "clip_grad_norm: gradient ", g.str(), " is not on the CPU");
  if (g.dtype() == DType::f32) return sum_squares<float>(g);
  if (g.dtype() == DType::f64) return sum_squares<double>(g);
  return sum_squares<float>(g.to(DType::f32));
}

void scale_grad(Tensor& g, double c) {
  const int64_t n = g.numel();
  if (g.dtype() == DType::f32) {
    float* p = g.data<float>();
    for (int64_t i = 0; i < n; ++i) p[i] = float(p[i] * c);
  } else if (g.dtype() == DType::f64) {
    double* p = g.data<double>();
    for (int64_t i = 0; i < n; ++i) p[i] *= c;
  } else {
    Tensor f = g.to(DType::f32);
    scale_grad(f, c);
    g.copy_(f);
  }
}
}  // namespace

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  double total_sq = 0;
  for (const Tensor& p : params)
    if (p.defined() && p.grad().defined()) total_sq += grad_sum_squares(p.grad());
  const double total = std::sqrt(total_sq);
  const double coef = std::min(max_norm / (total + 1e-6), 1.0);
  // torch multiplies by the clamped coefficient even when it is 1; x·1 == x exactly, so skip it.
  if (coef == 1.0) return total;
  for (Tensor p : params)
    if (p.defined() && p.grad().defined()) scale_grad(p.mutable_grad(), coef);
  return total;
}

}  // namespace xclip::train
