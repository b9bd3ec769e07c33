// Softmax / log-softmax with temperature over the middle axis of [outer, n, inner].
#include <cmath>
#include <limits>
#include <vector>

#include "xclip/kernels/cpu.hpp"

namespace xclip::cpu {

namespace {
// Accumulator type: double for float inputs so sums of many small terms stay exact enough.
template <class T> struct Acc { using type = double; };
}  // namespace

template <class T>
void softmax_forward(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, double inv_t, bool log) {
  using A = typename Acc<T>::type;
#pragma omp parallel for collapse(2) schedule(static) if (outer * n * inner >= (1 << 15))
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const T* xs = x + o * n * inner + i;
      T* ys = y + o * n * inner + i;
      A m = -std::numeric_limits<A>::infinity();
      for (int64_t k = 0; k < n; ++k) m = std::max(m, A(xs[k * inner]) * A(inv_t));
      A s = 0;
      for (int64_t k = 0; k < n; ++k) s += std::exp(A(xs[k * inner]) * A(inv_t) - m);
      if (log) {
        const A lse = m + std::log(s);
        for (int64_t k = 0; k < n; ++k) ys[k * inner] = T(A(xs[k * inner]) * A(inv_t) - lse);
      } else {
        const A r = A(1) / s;
        for (int64_t k = 0; k < n; ++k) ys[k * inner] = T(std::exp(A(xs[k * inner]) * A(inv_t) - m) * r);
      }
    }
  }
}

template <class T>
void softmax_backward(const T* y, const T* gy, T* gx, int64_t outer, int64_t n, int64_t inner, double inv_t,
                      bool log) {
  using A = typename Acc<T>::type;
#pragma omp parallel for collapse(2) schedule(static) if (outer * n * inner >= (1 << 15))
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * n * inner + i;
      A dot = 0;
      if (log) {
        for (int64_t k = 0; k < n; ++k) dot += A(gy[base + k * inner]);
        for (int64_t k = 0; k < n; ++k) {
          const int64_t j = base + k * inner;
          gx[j] = T((A(gy[j]) - std::exp(A(y[j])) * dot) * A(inv_t));
        }
      } else {
        for (int64_t k = 0; k < n; ++k) dot += A(gy[base + k * inner]) * A(y[base + k * inner]);
        for (int64_t k = 0; k < n; ++k) {
          const int64_t j = base + k * inner;
          gx[j] = T(A(y[j]) * (A(gy[j]) - dot) * A(inv_t));
        }
      }
    }
  }
}

template void softmax_forward<float>(const float*, float*, int64_t, int64_t, int64_t, double, bool);
template void softmax_forward<double>(const double*, double*, int64_t, int64_t, int64_t, double, bool);
template void softmax_backward<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, double, bool);
template void softmax_backward<double>(const double*, const double*, double*, int64_t, int64_t, int64_t, double,
                                       bool);

}  // namespace xclip::cpu
