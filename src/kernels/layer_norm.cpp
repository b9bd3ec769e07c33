// LayerNorm over the last dimension, forward and backward (CPU reference).
#include <cmath>

#include "xclip/kernels/cpu.hpp"

namespace xclip::cpu {

// Accumulate statistics in double for f32 inputs (matches PyTorch's fp32 accuracy closely and
// keeps the 1e-12-eps temporal-encoder LayerNorm stable).
template <class T>
void layer_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd, int64_t rows,
                        int64_t dim, double eps) {
#pragma omp parallel for schedule(static) if (rows * dim >= (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * dim;
    T* yr = y + r * dim;
    double s = 0;
    for (int64_t j = 0; j < dim; ++j) s += double(xr[j]);
    const double mu = s / double(dim);
    double v = 0;
    for (int64_t j = 0; j < dim; ++j) {
      const double d = double(xr[j]) - mu;
      v += d * d;
    }
    const double rs = 1.0 / std::sqrt(v / double(dim) + eps);
    for (int64_t j = 0; j < dim; ++j) {
      const T xhat = T((double(xr[j]) - mu) * rs);
      yr[j] = xhat * (weight ? weight[j] : T(1)) + (bias ? bias[j] : T(0));
    }
    if (mean) mean[r] = T(mu);
    if (rstd) rstd[r] = T(rs);
  }
}

template <class T>
void layer_norm_backward(const T* gy, const T* x, const T* weight, const T* mean, const T* rstd, T* gx, T* gweight,
                         T* gbias, int64_t rows, int64_t dim) {
  // gx = rstd · (g − mean(g) − xhat · mean(g · xhat)), with g = gy · weight.
#pragma omp parallel for schedule(static) if (rows * dim >= (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * dim;
    const T* gr = gy + r * dim;
    const double mu = double(mean[r]), rs = double(rstd[r]);
    double sum_g = 0, sum_gx = 0;
    for (int64_t j = 0; j < dim; ++j) {
      const double g = double(gr[j]) * (weight ? double(weight[j]) : 1.0);
      const double xhat = (double(xr[j]) - mu) * rs;
      sum_g += g;
      sum_gx += g * xhat;
    }
    const double mg = sum_g / double(dim), mgx = sum_gx / double(dim);
    T* gxr = gx + r * dim;
    for (int64_t j = 0; j < dim; ++j) {
      const double g = double(gr[j]) * (weight ? double(weight[j]) : 1.0);
      const double xhat = (double(xr[j]) - mu) * rs;
      gxr[j] = T(rs * (g - mg - xhat * mgx));
    }
  }
  if (!gweight && !gbias) return;
  // Parameter gradients: column sums, parallel over columns so threads never share a sum.
#pragma omp parallel for schedule(static) if (rows * dim >= (1 << 15))
  for (int64_t j = 0; j < dim; ++j) {
    double gw = 0, gb = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const double g = double(gy[r * dim + j]);
      gw += g * (double(x[r * dim + j]) - double(mean[r])) * double(rstd[r]);
      gb += g;
    }
    if (gweight) gweight[j] += T(gw);
    if (gbias) gbias[j] += T(gb);
  }
}

template void layer_norm_forward<float>(const float*, const float*, const float*, float*, float*, float*, int64_t,
                                        int64_t, double);
template void layer_norm_forward<double>(const double*, const double*, const double*, double*, double*, double*,
                                         int64_t, int64_t, double);
template void layer_norm_backward<float>(const float*, const float*, const float*, const float*, const float*, float*,
                                         float*, float*, int64_t, int64_t);
template void layer_norm_backward<double>(const double*, const double*, const double*, const double*, const double*,
                                          double*, double*, double*, int64_t, int64_t);

}  // namespace xclip::cpu
