// Elementwise CPU kernels: broadcasting binary ops, their reduction adjoint, unary functions.
#include <cmath>

#include "xclip/kernels/cpu.hpp"

namespace xclip::cpu {

namespace {
constexpr int64_t kParallelMin = 1 << 15;  // below this, threads cost more than they save

template <class T>
inline T apply(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
  }
  return T(0);
}

// Offset of linear index `i` of a row-major `shape` under `strides`.
inline int64_t strided_offset(int64_t i, const int64_t* shape, const int64_t* strides, int ndim) {
  int64_t off = 0;
  for (int d = ndim - 1; d >= 0; --d) {
    int64_t q = i / shape[d];
    off += (i - q * shape[d]) * strides[d];
    i = q;
  }
  return off;
}
}  // namespace

template <class T>
void binary_broadcast(BinaryOp op, const T* a, const int64_t* as, const T* b, const int64_t* bs, T* out,
                      const int64_t* shape, int ndim) {
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) n *= shape[d];
  if (n == 0) return;
  // Fast path: the innermost dim is contiguous (stride 1) or broadcast (0) for both operands; we
  // walk it as a row and compute the strided offset only once per row.
  const int64_t inner = ndim ? shape[ndim - 1] : 1;
  const int64_t ai = ndim ? as[ndim - 1] : 0, bi = ndim ? bs[ndim - 1] : 0;
  const int64_t rows = n / inner;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t ao = ndim > 1 ? strided_offset(r, shape, as, ndim - 1) : 0;
    const int64_t bo = ndim > 1 ? strided_offset(r, shape, bs, ndim - 1) : 0;
    T* o = out + r * inner;
    const T* pa = a + ao;
    const T* pb = b + bo;
    if (ai == 1 && bi == 1) {
      for (int64_t j = 0; j < inner; ++j) o[j] = apply(op, pa[j], pb[j]);
    } else if (ai == 1 && bi == 0) {
      const T vb = pb[0];
      for (int64_t j = 0; j < inner; ++j) o[j] = apply(op, pa[j], vb);
    } else if (ai == 0 && bi == 1) {
      const T va = pa[0];
      for (int64_t j = 0; j < inner; ++j) o[j] = apply(op, va, pb[j]);
    } else {
      for (int64_t j = 0; j < inner; ++j) o[j] = apply(op, pa[j * ai], pb[j * bi]);
    }
  }
}

template <class T>
void sum_to_broadcast(const T* src, const int64_t* shape, int ndim, T* dst, const int64_t* ds) {
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) n *= shape[d];
  if (n == 0) return;
  const int64_t inner = ndim ? shape[ndim - 1] : 1;
  const int64_t di = ndim ? ds[ndim - 1] : 0;
  const int64_t rows = n / inner;
  // Serial: different rows may hit the same destination (that is what broadcasting means).
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = ndim > 1 ? strided_offset(r, shape, ds, ndim - 1) : 0;
    const T* s = src + r * inner;
    if (di == 0) {
      T acc = 0;
      for (int64_t j = 0; j < inner; ++j) acc += s[j];
      dst[o] += acc;
    } else {
      for (int64_t j = 0; j < inner; ++j) dst[o + j * di] += s[j];
    }
  }
}

namespace {
template <class T>
inline T sigmoid_of(T x) {
  return T(1) / (T(1) + std::exp(-x));
}
constexpr double kQuickGeluAlpha = 1.702;
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

// QuickGELU and its derivative, shared by the unary kernels and the fused bias + QuickGELU, whose
// results must stay the same bit for bit.
template <class T>
inline T quick_gelu_of(T v) {
  return v * sigmoid_of(T(kQuickGeluAlpha) * v);
}
template <class T>
inline T quick_gelu_grad(T v, T g) {
  const T s = sigmoid_of(T(kQuickGeluAlpha) * v);
  return g * (s + v * T(kQuickGeluAlpha) * s * (T(1) - s));
}
}  // namespace

template <class T>
void unary_forward(UnaryOp op, const T* x, T* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T v = x[i];
    switch (op) {
      case UnaryOp::exp: y[i] = std::exp(v); break;
      case UnaryOp::log: y[i] = std::log(v); break;
      case UnaryOp::sqrt: y[i] = std::sqrt(v); break;
      case UnaryOp::tanh: y[i] = std::tanh(v); break;
      case UnaryOp::sigmoid: y[i] = sigmoid_of(v); break;
      case UnaryOp::quick_gelu: y[i] = quick_gelu_of(v); break;
      case UnaryOp::gelu: y[i] = T(0.5) * v * (T(1) + std::erf(v * T(kInvSqrt2))); break;
      case UnaryOp::neg: y[i] = -v; break;
      case UnaryOp::relu: y[i] = v > T(0) ? v : T(0); break;
      case UnaryOp::relu6: y[i] = v > T(0) ? (v < T(6) ? v : T(6)) : T(0); break;
    }
  }
}

template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T v = x[i], g = gy[i];
    switch (op) {
      case UnaryOp::exp: gx[i] = g * y[i]; break;
      case UnaryOp::log: gx[i] = g / v; break;
      case UnaryOp::sqrt: gx[i] = g * T(0.5) / y[i]; break;
      case UnaryOp::tanh: gx[i] = g * (T(1) - y[i] * y[i]); break;
      case UnaryOp::sigmoid: gx[i] = g * y[i] * (T(1) - y[i]); break;
      case UnaryOp::quick_gelu: gx[i] = quick_gelu_grad(v, g); break;
      case UnaryOp::gelu: {
        const T cdf = T(0.5) * (T(1) + std::erf(v * T(kInvSqrt2)));
        const T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * v * v);
        gx[i] = g * (cdf + v * pdf);
        break;
      }
      case UnaryOp::neg: gx[i] = -g; break;
      case UnaryOp::relu: gx[i] = v > T(0) ? g : T(0); break;
      case UnaryOp::relu6: gx[i] = v > T(0) && v < T(6) ? g : T(0); break;
    }
  }
}

template <class T>
void bias_quick_gelu_forward(const T* x, const T* bias, T* y, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      y[r * cols + c] = quick_gelu_of(T(x[r * cols + c] + bias[c]));
    }
}

template <class T>
void bias_quick_gelu_backward(const T* x, const T* bias, const T* gy, T* gx, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      gx[r * cols + c] = quick_gelu_grad(T(x[r * cols + c] + bias[c]), gy[r * cols + c]);
    }
}

template <class T>
void affine(const T* x, T* y, int64_t n, T scale, T shift) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale + shift;
}

#define XCLIP_INSTANTIATE(T)                                                                              \
  template void binary_broadcast<T>(BinaryOp, const T*, const int64_t*, const T*, const int64_t*, T*,        \
                                    const int64_t*, int);                                                 \
  template void sum_to_broadcast<T>(const T*, const int64_t*, int, T*, const int64_t*);                    \
  template void unary_forward<T>(UnaryOp, const T*, T*, int64_t);                                          \
  template void unary_backward<T>(UnaryOp, const T*, const T*, const T*, T*, int64_t);                     \
  template void affine<T>(const T*, T*, int64_t, T, T);                                                    \
  template void bias_quick_gelu_forward<T>(const T*, const T*, T*, int64_t, int64_t);                      \
  template void bias_quick_gelu_backward<T>(const T*, const T*, const T*, T*, int64_t, int64_t);
XCLIP_INSTANTIATE(float)
XCLIP_INSTANTIATE(double)
#undef XCLIP_INSTANTIATE

}  // namespace xclip::cpu
