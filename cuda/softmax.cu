// Softmax / log-softmax with temperature over the middle axis of [outer, n, inner] on the GPU.
// Arithmetic in double, as the CPU twin (src/kernels/softmax.cpp) does for f32 and f64.
// inner == 1 (the last axis, the common case): one warp per row. Otherwise one thread per
// (outer, inner) column, with consecutive threads on consecutive inner indices (coalesced).
#include <cmath>

#include "common.cuh"

namespace xclip::cuda {

namespace {
using detail::global_index;
using detail::global_stride;
using detail::warp_max_all;
using detail::warp_sum_all;

template <class T>
__global__ void softmax_forward_rows_kernel(const T* x, T* y, int64_t rows, int64_t n, double inv_t, bool log) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = global_stride() / 32;
  for (int64_t r = global_index() / 32; r < rows; r += warps) {
    const T* xs = x + r * n;
    T* ys = y + r * n;
    double m = -INFINITY;
    for (int64_t k = lane; k < n; k += 32) m = fmax(m, double(xs[k]) * inv_t);
    m = warp_max_all(m);
    double s = 0;
    for (int64_t k = lane; k < n; k += 32) s += ::exp(double(xs[k]) * inv_t - m);
    s = warp_sum_all(s);
    if (log) {
      const double lse = m + ::log(s);
      for (int64_t k = lane; k < n; k += 32) ys[k] = T(double(xs[k]) * inv_t - lse);
    } else {
      const double rcp = 1.0 / s;
      for (int64_t k = lane; k < n; k += 32) ys[k] = T(::exp(double(xs[k]) * inv_t - m) * rcp);
    }
  }
}

template <class T>
__global__ void softmax_forward_columns_kernel(const T* x, T* y, int64_t outer, int64_t n, int64_t inner,
                                               double inv_t, bool log) {
  for (int64_t t = global_index(); t < outer * inner; t += global_stride()) {
    const int64_t o = t / inner, i = t - o * inner;
    const T* xs = x + o * n * inner + i;
    T* ys = y + o * n * inner + i;
    double m = -INFINITY;
    for (int64_t k = 0; k < n; ++k) m = fmax(m, double(xs[k * inner]) * inv_t);
    double s = 0;
    for (int64_t k = 0; k < n; ++k) s += ::exp(double(xs[k * inner]) * inv_t - m);
    if (log) {
      const double lse = m + ::log(s);
      for (int64_t k = 0; k < n; ++k) ys[k * inner] = T(double(xs[k * inner]) * inv_t - lse);
    } else {
      const double rcp = 1.0 / s;
      for (int64_t k = 0; k < n; ++k) ys[k * inner] = T(::exp(double(xs[k * inner]) * inv_t - m) * rcp);
    }
  }
}

// softmax: gx = y·(gy − Σ gy·y)·invT;  log_softmax: gx = (gy − exp(y)·Σ gy)·invT.
template <class T>
__global__ void softmax_backward_rows_kernel(const T* y, const T* gy, T* gx, int64_t rows, int64_t n, double inv_t,
                                             bool log) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = global_stride() / 32;
  for (int64_t r = global_index() / 32; r < rows; r += warps) {
    const int64_t base = r * n;
    double dot = 0;
    for (int64_t k = lane; k < n; k += 32)
      dot += log ? double(gy[base + k]) : double(gy[base + k]) * double(y[base + k]);
    dot = warp_sum_all(dot);
    for (int64_t k = lane; k < n; k += 32) {
      const int64_t j = base + k;
      gx[j] = log ? T((double(gy[j]) - ::exp(double(y[j])) * dot) * inv_t)
                  : T(double(y[j]) * (double(gy[j]) - dot) * inv_t);
    }
  }
}

template <class T>
__global__ void softmax_backward_columns_kernel(const T* y, const T* gy, T* gx, int64_t outer, int64_t n,
                                                int64_t inner, double inv_t, bool log) {
  for (int64_t t = global_index(); t < outer * inner; t += global_stride()) {
    const int64_t o = t / inner, i = t - o * inner;
    const int64_t base = o * n * inner + i;
    double dot = 0;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t j = base + k * inner;
      dot += log ? double(gy[j]) : double(gy[j]) * double(y[j]);
    }
    for (int64_t k = 0; k < n; ++k) {
      const int64_t j = base + k * inner;
      gx[j] = log ? T((double(gy[j]) - ::exp(double(y[j])) * dot) * inv_t)
                  : T(double(y[j]) * (double(gy[j]) - dot) * inv_t);
    }
  }
}

void check_sizes(const char* who, int64_t outer, int64_t n, int64_t inner) {
  XCLIP_CHECK(outer >= 0 && n >= 0 && inner >= 0, who, ": negative size [", outer, ", ", n, ", ", inner, "]");
}

}  // namespace

template <class T>
void softmax_forward(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, double inv_t, bool log) {
  check_sizes("cuda::softmax_forward", outer, n, inner);
  if (outer == 0 || n == 0 || inner == 0) return;
  cudaStream_t st = cuda_stream();
  if (inner == 1)
    softmax_forward_rows_kernel<T><<<detail::grid_for(outer * 32), detail::kThreads, 0, st>>>(x, y, outer, n, inv_t,
                                                                                              log);
  else
    softmax_forward_columns_kernel<T><<<detail::grid_for(outer * inner), detail::kThreads, 0, st>>>(
        x, y, outer, n, inner, inv_t, log);
  XCLIP_CUDA_LAUNCH_CHECK();
}

template <class T>
void softmax_backward(const T* y, const T* gy, T* gx, int64_t outer, int64_t n, int64_t inner, double inv_t,
                      bool log) {
  check_sizes("cuda::softmax_backward", outer, n, inner);
  if (outer == 0 || n == 0 || inner == 0) return;
  cudaStream_t st = cuda_stream();
  if (inner == 1)
    softmax_backward_rows_kernel<T><<<detail::grid_for(outer * 32), detail::kThreads, 0, st>>>(y, gy, gx, outer, n,
                                                                                               inv_t, log);
  else
    softmax_backward_columns_kernel<T><<<detail::grid_for(outer * inner), detail::kThreads, 0, st>>>(
        y, gy, gx, outer, n, inner, inv_t, log);
  XCLIP_CUDA_LAUNCH_CHECK();
}

template void softmax_forward<float>(const float*, float*, int64_t, int64_t, int64_t, double, bool);
template void softmax_forward<double>(const double*, double*, int64_t, int64_t, int64_t, double, bool);
template void softmax_backward<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, double, bool);
template void softmax_backward<double>(const double*, const double*, double*, int64_t, int64_t, int64_t, double,
                                       bool);

}  // namespace xclip::cuda
