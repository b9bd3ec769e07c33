// Gradient-norm helpers: a sum of squares in double and an in-place scaling by a double factor
// (torch.nn.utils.clip_grad_norm_ as src/train/grad_clip.cpp uses it). Sequential on purpose: the sum's
// order is the reference the clipping tests were written against.
#include "xclip/kernels/cpu.hpp"

namespace xclip::cpu {

template <class T>
double sum_squares(const T* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(x[i]) * double(x[i]);
  return s;
}

template <class T>
void scale_by(T* x, int64_t n, double c) {
  for (int64_t i = 0; i < n; ++i) x[i] = T(double(x[i]) * c);
}

template double sum_squares<float>(const float*, int64_t);
template double sum_squares<double>(const double*, int64_t);
template void scale_by<float>(float*, int64_t, double);
template void scale_by<double>(double*, int64_t, double);

}  // namespace xclip::cpu
