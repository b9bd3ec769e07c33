// Reductions over the middle axis of [outer, n, inner] and their adjoints on the GPU; twins of
// src/kernels/reduce.cpp.
#include "strided.cuh"

namespace xclip::cuda {

namespace {
using detail::global_index;
using detail::global_stride;
using detail::grid_for;
using detail::kThreads;

// ---- max + argmax ---------------------------------------------------------------------------------
// A candidate maximum. The CPU rule (first maximum; the first NaN beats everything) is the
// order-independent choice: NaN over number, larger over smaller, then the smaller index.
template <class T>
struct MaxArg {
  T value;
  long long index;  // kNone: no element seen
};
constexpr long long kNone = 0x7fffffffffffffffLL;

template <class T>
__device__ __forceinline__ MaxArg<T> better(MaxArg<T> a, MaxArg<T> b) {
  if (a.index == kNone) return b;
  if (b.index == kNone) return a;
  const bool a_nan = isnan(a.value), b_nan = isnan(b.value);
  if (a_nan != b_nan) return a_nan ? a : b;
  if (!a_nan) {
    if (a.value > b.value) return a;
    if (b.value > a.value) return b;
  }
  return a.index < b.index ? a : b;
}

template <class T>
__device__ __forceinline__ void store_max(MaxArg<T> best, T* y, int64_t* arg, int64_t at) {
  y[at] = best.value;
  if (arg) arg[at] = int64_t(best.index);
}

// inner == 1: one warp per row.
template <class T>
__global__ void reduce_max_rows_kernel(const T* x, T* y, int64_t* arg, int64_t rows, int64_t n) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = global_stride() / 32;
  for (int64_t r = global_index() / 32; r < rows; r += warps) {
    MaxArg<T> best{T(0), kNone};
    for (int64_t k = lane; k < n; k += 32) best = better(best, MaxArg<T>{x[r * n + k], (long long)k});
    for (int off = 16; off > 0; off >>= 1) {
      MaxArg<T> other;
      other.value = __shfl_xor_sync(0xffffffffu, best.value, off);
      other.index = __shfl_xor_sync(0xffffffffu, best.index, off);
      best = better(best, other);
    }
    if (lane == 0) store_max(best, y, arg, r);
  }
}

// inner > 1: one thread per (outer, inner) column, scanning the axis in order.
template <class T>
__global__ void reduce_max_columns_kernel(const T* x, T* y, int64_t* arg, int64_t outer, int64_t n, int64_t inner) {
  for (int64_t t = global_index(); t < outer * inner; t += global_stride()) {
    const int64_t o = t / inner, i = t - o * inner;
    const T* xs = x + o * n * inner + i;
    MaxArg<T> best{T(0), kNone};
    for (int64_t k = 0; k < n; ++k) best = better(best, MaxArg<T>{xs[k * inner], (long long)k});
    store_max(best, y, arg, t);
  }
}

// ---- adjoints --------------------------------------------------------------------------------------
template <class T>
__global__ void broadcast_axis_kernel(const T* gy, T* gx, int64_t outer, int64_t n, int64_t inner, T scale) {
  for (int64_t t = global_index(); t < outer * n * inner; t += global_stride()) {
    const int64_t i = t % inner, o = t / (n * inner);
    gx[t] = gy[o * inner + i] * scale;
  }
}

// Every gx element is written: gy where the axis index is the argmax, 0 elsewhere.
template <class T>
__global__ void scatter_max_grad_kernel(const T* gy, const int64_t* arg, T* gx, int64_t outer, int64_t n,
                                        int64_t inner) {
  for (int64_t t = global_index(); t < outer * n * inner; t += global_stride()) {
    const int64_t i = t % inner, k = (t / inner) % n, o = t / (n * inner);
    const int64_t at = o * inner + i;
    gx[t] = arg[at] == k ? gy[at] : T(0);
  }
}

void check_sizes(const char* who, int64_t outer, int64_t n, int64_t inner) {
  XCLIP_CHECK(outer >= 0 && n >= 0 && inner >= 0, who, ": negative size [", outer, ", ", n, ", ", inner, "]");
}

}  // namespace

template <class T>
void reduce_sum(const T* x, T* y, int64_t outer, int64_t n, int64_t inner) {
  check_sizes("cuda::reduce_sum", outer, n, inner);
  const int64_t shape[3] = {outer, n, inner};
  const int64_t x_strides[3] = {n * inner, inner, 1}, y_strides[3] = {inner, 0, 1};
  const int64_t* strides[2] = {x_strides, y_strides};
  detail::strided_sum(x, y, detail::make_space(shape, 3, strides, 2), /*accumulate=*/false);
}

template <class T>
void reduce_max(const T* x, T* y, int64_t* arg, int64_t outer, int64_t n, int64_t inner) {
  check_sizes("cuda::reduce_max", outer, n, inner);
  if (outer == 0 || inner == 0) return;
  XCLIP_CHECK(n > 0, "cuda::reduce_max: empty axis");
  cudaStream_t st = cuda_stream();
  if (inner == 1)
    reduce_max_rows_kernel<T><<<grid_for(outer * 32), kThreads, 0, st>>>(x, y, arg, outer, n);
  else
    reduce_max_columns_kernel<T><<<grid_for(outer * inner), kThreads, 0, st>>>(x, y, arg, outer, n, inner);
  XCLIP_CUDA_LAUNCH_CHECK();
}

template <class T>
void broadcast_axis(const T* gy, T* gx, int64_t outer, int64_t n, int64_t inner, T scale) {
  check_sizes("cuda::broadcast_axis", outer, n, inner);
  const int64_t total = outer * n * inner;
  if (total == 0) return;
  broadcast_axis_kernel<T><<<grid_for(total), kThreads, 0, cuda_stream()>>>(gy, gx, outer, n, inner, scale);
  XCLIP_CUDA_LAUNCH_CHECK();
}

template <class T>
void scatter_max_grad(const T* gy, const int64_t* arg, T* gx, int64_t outer, int64_t n, int64_t inner) {
  check_sizes("cuda::scatter_max_grad", outer, n, inner);
  const int64_t total = outer * n * inner;
  if (total == 0) return;
  scatter_max_grad_kernel<T><<<grid_for(total), kThreads, 0, cuda_stream()>>>(gy, arg, gx, outer, n, inner);
  XCLIP_CUDA_LAUNCH_CHECK();
}

#define XCLIP_INSTANTIATE(T)                                                          \
  template void reduce_sum<T>(const T*, T*, int64_t, int64_t, int64_t);                 \
  template void reduce_max<T>(const T*, T*, int64_t*, int64_t, int64_t, int64_t);       \
  template void broadcast_axis<T>(const T*, T*, int64_t, int64_t, int64_t, T);          \
  template void scatter_max_grad<T>(const T*, const int64_t*, T*, int64_t, int64_t, int64_t);
XCLIP_INSTANTIATE(float)
XCLIP_INSTANTIATE(double)
#undef XCLIP_INSTANTIATE

}  // namespace xclip::cuda
