// Reductions over the middle axis of [outer, n, inner] and their adjoints.
#include <cmath>

#include "xclip/kernels/cpu.hpp"

namespace xclip::cpu {

template <class T>
void reduce_sum(const T* x, T* y, int64_t outer, int64_t n, int64_t inner) {
#pragma omp parallel for collapse(2) schedule(static) if (outer * n * inner >= (1 << 15))
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double s = 0;
      const T* xs = x + o * n * inner + i;
      for (int64_t k = 0; k < n; ++k) s += double(xs[k * inner]);
      y[o * inner + i] = T(s);
    }
}

template <class T>
void reduce_max(const T* x, T* y, int64_t* arg, int64_t outer, int64_t n, int64_t inner) {
#pragma omp parallel for collapse(2) schedule(static) if (outer * n * inner >= (1 << 15))
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const T* xs = x + o * n * inner + i;
      int64_t best = 0;
      T m = xs[0];
      for (int64_t k = 1; k < n && !std::isnan(m); ++k) {
        const T v = xs[k * inner];
        if (v > m || std::isnan(v)) {
          m = v;
          best = k;
        }
      }
      y[o * inner + i] = m;
      if (arg) arg[o * inner + i] = best;
    }
}

template <class T>
void broadcast_axis(const T* gy, T* gx, int64_t outer, int64_t n, int64_t inner, T scale) {
#pragma omp parallel for collapse(2) schedule(static) if (outer * n * inner >= (1 << 15))
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < n; ++k)
      for (int64_t i = 0; i < inner; ++i) gx[(o * n + k) * inner + i] = gy[o * inner + i] * scale;
}

template <class T>
void scatter_max_grad(const T* gy, const int64_t* arg, T* gx, int64_t outer, int64_t n, int64_t inner) {
  for (int64_t j = 0; j < outer * n * inner; ++j) gx[j] = T(0);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) gx[(o * n + arg[o * inner + i]) * inner + i] = gy[o * inner + i];
}

#define XCLIP_INSTANTIATE(T)                                                          \
  template void reduce_sum<T>(const T*, T*, int64_t, int64_t, int64_t);                 \
  template void reduce_max<T>(const T*, T*, int64_t*, int64_t, int64_t, int64_t);       \
  template void broadcast_axis<T>(const T*, T*, int64_t, int64_t, int64_t, T);          \
  template void scatter_max_grad<T>(const T*, const int64_t*, T*, int64_t, int64_t, int64_t);
XCLIP_INSTANTIATE(float)
XCLIP_INSTANTIATE(double)
#undef XCLIP_INSTANTIATE

}  // namespace xclip::cpu
