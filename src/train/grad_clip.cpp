// Gradient-norm clipping as torch.nn.utils.clip_grad_norm_ (L2), on the gradients' own devices.
#include <cmath>

#include "xclip/kernels/dispatch.hpp"
#include "xclip/train/optimizer.hpp"

namespace xclip::train {

double grad_sum_squares(const Tensor& g) {
  const Device dev = g.device();
  if (g.dtype() == DType::f32) return k::sum_squares<float>(dev, g.data<float>(), g.numel());
  if (g.dtype() == DType::f64) return k::sum_squares<double>(dev, g.data<double>(), g.numel());
  return grad_sum_squares(g.to(DType::f32));
}

void scale_grad(Tensor& g, double c) {
  const Device dev = g.device();
  if (g.dtype() == DType::f32) {
    k::scale_by<float>(dev, g.data<float>(), g.numel(), c);
  } else if (g.dtype() == DType::f64) {
    k::scale_by<double>(dev, g.data<double>(), g.numel(), c);
  } else {
    Tensor f = g.to(DType::f32);
    scale_grad(f, c);
    g.copy_(f);
  }
}

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
