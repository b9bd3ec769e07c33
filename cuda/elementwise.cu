// Elementwise CUDA kernels: broadcasting binary ops, their reduction adjoint, unary functions
// and their derivatives, affine maps. Twins of src/kernels/elementwise.cpp.
#include "strided.cuh"

namespace xclip::cuda {

namespace {
using detail::global_index;
using detail::global_stride;
using detail::grid_for;
using detail::kThreads;
using detail::StridedSpace;

// ---- binary ---------------------------------------------------------------------------------------
template <BinaryOp Op, class T>
__device__ __forceinline__ T apply(T a, T b) {
  if constexpr (Op == BinaryOp::add) return a + b;
  if constexpr (Op == BinaryOp::sub) return a - b;
  if constexpr (Op == BinaryOp::mul) return a * b;
  if constexpr (Op == BinaryOp::div) return a / b;
  return T(0);
}

template <BinaryOp Op, class T>
__global__ void binary_contiguous_kernel(const T* a, int64_t as, const T* b, int64_t bs, T* out, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) out[i] = apply<Op>(a[i * as], b[i * bs]);
}

template <BinaryOp Op, class T>
__global__ void binary_strided_kernel(const T* a, const T* b, T* out, StridedSpace space, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride())
    out[i] = apply<Op>(a[detail::space_offset(space, 0, i)], b[detail::space_offset(space, 1, i)]);
}

template <BinaryOp Op, class T>
void launch_binary(const T* a, const T* b, T* out, const StridedSpace& space, int64_t n) {
  if (space.ndim <= 1) {  // contiguous or broadcast scalar operands: no index arithmetic
    const int64_t as = space.ndim ? space.stride[0][0] : 0, bs = space.ndim ? space.stride[1][0] : 0;
    binary_contiguous_kernel<Op, T><<<grid_for(n), kThreads, 0, cuda_stream()>>>(a, as, b, bs, out, n);
  } else {
    binary_strided_kernel<Op, T><<<grid_for(n), kThreads, 0, cuda_stream()>>>(a, b, out, space, n);
  }
  XCLIP_CUDA_LAUNCH_CHECK();
}

// ---- unary --------------------------------------------------------------------------------------------
// Float and double overloads of the math functions (the CPU twin calls std:: on the element type).
__device__ __forceinline__ float dexp(float v) { return expf(v); }
__device__ __forceinline__ double dexp(double v) { return exp(v); }
__device__ __forceinline__ float dlog(float v) { return logf(v); }
__device__ __forceinline__ double dlog(double v) { return log(v); }
__device__ __forceinline__ float dsqrt(float v) { return sqrtf(v); }
__device__ __forceinline__ double dsqrt(double v) { return sqrt(v); }
__device__ __forceinline__ float dtanh(float v) { return tanhf(v); }
__device__ __forceinline__ double dtanh(double v) { return tanh(v); }
__device__ __forceinline__ float derf(float v) { return erff(v); }
__device__ __forceinline__ double derf(double v) { return erf(v); }

constexpr double kQuickGeluAlpha = 1.702;
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

template <class T>
__device__ __forceinline__ T sigmoid_of(T x) {
  return T(1) / (T(1) + dexp(-x));
}

template <UnaryOp Op, class T>
__device__ __forceinline__ T unary_value(T v) {
  if constexpr (Op == UnaryOp::exp) return dexp(v);
  if constexpr (Op == UnaryOp::log) return dlog(v);
  if constexpr (Op == UnaryOp::sqrt) return dsqrt(v);
  if constexpr (Op == UnaryOp::tanh) return dtanh(v);
  if constexpr (Op == UnaryOp::sigmoid) return sigmoid_of(v);
  if constexpr (Op == UnaryOp::quick_gelu) return v * sigmoid_of(T(kQuickGeluAlpha) * v);
  if constexpr (Op == UnaryOp::gelu) return T(0.5) * v * (T(1) + derf(v * T(kInvSqrt2)));
  if constexpr (Op == UnaryOp::neg) return -v;
  if constexpr (Op == UnaryOp::relu) return v > T(0) ? v : T(0);
  if constexpr (Op == UnaryOp::relu6) return v > T(0) ? (v < T(6) ? v : T(6)) : T(0);
  return T(0);
}

// gy · f'(x), with y = f(x).
template <UnaryOp Op, class T>
__device__ __forceinline__ T unary_grad(T v, T y, T g) {
  if constexpr (Op == UnaryOp::exp) return g * y;
  if constexpr (Op == UnaryOp::log) return g / v;
  if constexpr (Op == UnaryOp::sqrt) return g * T(0.5) / y;
  if constexpr (Op == UnaryOp::tanh) return g * (T(1) - y * y);
  if constexpr (Op == UnaryOp::sigmoid) return g * y * (T(1) - y);
  if constexpr (Op == UnaryOp::quick_gelu) {
    const T s = sigmoid_of(T(kQuickGeluAlpha) * v);
    return g * (s + v * T(kQuickGeluAlpha) * s * (T(1) - s));
  }
  if constexpr (Op == UnaryOp::gelu) {
    const T cdf = T(0.5) * (T(1) + derf(v * T(kInvSqrt2)));
    const T pdf = T(kInvSqrt2Pi) * dexp(T(-0.5) * v * v);
    return g * (cdf + v * pdf);
  }
  if constexpr (Op == UnaryOp::neg) return -g;
  if constexpr (Op == UnaryOp::relu) return v > T(0) ? g : T(0);
  if constexpr (Op == UnaryOp::relu6) return v > T(0) && v < T(6) ? g : T(0);
  return T(0);
}

template <UnaryOp Op, class T>
__global__ void unary_forward_kernel(const T* x, T* y, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) y[i] = unary_value<Op>(x[i]);
}

// y is only read by the ops whose derivative uses it (it may be null for the others).
template <UnaryOp Op, class T>
__global__ void unary_backward_kernel(const T* x, const T* y, const T* gy, T* gx, int64_t n) {
  constexpr bool kUsesY =
      Op == UnaryOp::exp || Op == UnaryOp::sqrt || Op == UnaryOp::tanh || Op == UnaryOp::sigmoid;
  for (int64_t i = global_index(); i < n; i += global_stride())
    gx[i] = unary_grad<Op>(x[i], kUsesY ? y[i] : T(0), gy[i]);
}

template <class T>
__global__ void affine_kernel(const T* x, T* y, int64_t n, T scale, T shift) {
  for (int64_t i = global_index(); i < n; i += global_stride()) y[i] = x[i] * scale + shift;
}

// The fused c_fc bias + QuickGELU (cpu.hpp): t = x + bias, then exactly unary_value / unary_grad
// of quick_gelu on t.
template <class T>
__global__ void bias_quick_gelu_forward_kernel(const T* x, const T* bias, T* y, int64_t n, int64_t cols) {
  for (int64_t i = global_index(); i < n; i += global_stride())
    y[i] = unary_value<UnaryOp::quick_gelu>(T(x[i] + bias[i % cols]));
}

template <class T>
__global__ void bias_quick_gelu_backward_kernel(const T* x, const T* bias, const T* gy, T* gx, int64_t n,
                                                int64_t cols) {
  for (int64_t i = global_index(); i < n; i += global_stride())
    gx[i] = unary_grad<UnaryOp::quick_gelu>(T(x[i] + bias[i % cols]), T(0), gy[i]);
}

template <UnaryOp Op, class T>
void launch_unary(const T* x, const T* y, const T* gy, T* out, int64_t n, bool backward) {
  if (backward)
    unary_backward_kernel<Op, T><<<grid_for(n), kThreads, 0, cuda_stream()>>>(x, y, gy, out, n);
  else
    unary_forward_kernel<Op, T><<<grid_for(n), kThreads, 0, cuda_stream()>>>(x, out, n);
  XCLIP_CUDA_LAUNCH_CHECK();
}

template <class T>
void dispatch_unary(UnaryOp op, const T* x, const T* y, const T* gy, T* out, int64_t n, bool backward) {
  XCLIP_CHECK(n >= 0, "cuda::unary: negative size ", n);
  if (n == 0) return;
  switch (op) {
    case UnaryOp::exp: return launch_unary<UnaryOp::exp>(x, y, gy, out, n, backward);
    case UnaryOp::log: return launch_unary<UnaryOp::log>(x, y, gy, out, n, backward);
    case UnaryOp::sqrt: return launch_unary<UnaryOp::sqrt>(x, y, gy, out, n, backward);
    case UnaryOp::tanh: return launch_unary<UnaryOp::tanh>(x, y, gy, out, n, backward);
    case UnaryOp::sigmoid: return launch_unary<UnaryOp::sigmoid>(x, y, gy, out, n, backward);
    case UnaryOp::quick_gelu: return launch_unary<UnaryOp::quick_gelu>(x, y, gy, out, n, backward);
    case UnaryOp::gelu: return launch_unary<UnaryOp::gelu>(x, y, gy, out, n, backward);
    case UnaryOp::neg: return launch_unary<UnaryOp::neg>(x, y, gy, out, n, backward);
    case UnaryOp::relu: return launch_unary<UnaryOp::relu>(x, y, gy, out, n, backward);
    case UnaryOp::relu6: return launch_unary<UnaryOp::relu6>(x, y, gy, out, n, backward);
  }
  throw Error(format("cuda::unary: unknown op ", int(op)));
}

}  // namespace

template <class T>
void binary_broadcast(BinaryOp op, const T* a, const int64_t* a_strides, const T* b, const int64_t* b_strides,
                      T* out, const int64_t* shape, int ndim) {
  const int64_t* strides[2] = {a_strides, b_strides};
  const StridedSpace space = detail::make_space(shape, ndim, strides, 2);
  const int64_t n = space.numel();
  if (n == 0) return;
  switch (op) {
    case BinaryOp::add: return launch_binary<BinaryOp::add>(a, b, out, space, n);
    case BinaryOp::sub: return launch_binary<BinaryOp::sub>(a, b, out, space, n);
    case BinaryOp::mul: return launch_binary<BinaryOp::mul>(a, b, out, space, n);
    case BinaryOp::div: return launch_binary<BinaryOp::div>(a, b, out, space, n);
  }
  throw Error(format("cuda::binary_broadcast: unknown op ", int(op)));
}

template <class T>
void sum_to_broadcast(const T* src, const int64_t* shape, int ndim, T* dst, const int64_t* dst_strides) {
  XCLIP_CHECK(ndim >= 0 && ndim <= detail::kMaxDims, "cuda::sum_to_broadcast: ", ndim, " dims");
  int64_t src_strides[detail::kMaxDims];
  detail::contiguous_strides(shape, ndim, src_strides);
  const int64_t* strides[2] = {src_strides, dst_strides};
  detail::strided_sum(src, dst, detail::make_space(shape, ndim, strides, 2), /*accumulate=*/true);
}

template <class T>
void unary_forward(UnaryOp op, const T* x, T* y, int64_t n) {
  dispatch_unary<T>(op, x, nullptr, nullptr, y, n, false);
}

template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n) {
  dispatch_unary<T>(op, x, y, gy, gx, n, true);
}

template <class T>
void affine(const T* x, T* y, int64_t n, T scale, T shift) {
  XCLIP_CHECK(n >= 0, "cuda::affine: negative size ", n);
  if (n == 0) return;
  affine_kernel<T><<<grid_for(n), kThreads, 0, cuda_stream()>>>(x, y, n, scale, shift);
  XCLIP_CUDA_LAUNCH_CHECK();
}

template <class T>
void bias_quick_gelu_forward(const T* x, const T* bias, T* y, int64_t rows, int64_t cols) {
  XCLIP_CHECK(rows >= 0 && cols >= 0, "cuda::bias_quick_gelu_forward: negative size ", rows, " x ", cols);
  const int64_t n = rows * cols;
  if (n == 0) return;
  bias_quick_gelu_forward_kernel<T><<<grid_for(n), kThreads, 0, cuda_stream()>>>(x, bias, y, n, cols);
  XCLIP_CUDA_LAUNCH_CHECK();
}

template <class T>
void bias_quick_gelu_backward(const T* x, const T* bias, const T* gy, T* gx, int64_t rows, int64_t cols) {
  XCLIP_CHECK(rows >= 0 && cols >= 0, "cuda::bias_quick_gelu_backward: negative size ", rows, " x ", cols);
  const int64_t n = rows * cols;
  if (n == 0) return;
  bias_quick_gelu_backward_kernel<T><<<grid_for(n), kThreads, 0, cuda_stream()>>>(x, bias, gy, gx, n, cols);
  XCLIP_CUDA_LAUNCH_CHECK();
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

}  // namespace xclip::cuda
