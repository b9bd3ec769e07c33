// Gradient-norm helpers on the GPU; twins of src/kernels/norm.cpp. The sum of squares is taken in
// double: per-block partial sums, then one block adds the partials in block order (deterministic).
#include <algorithm>

#include "common.cuh"

namespace xclip::cuda {

namespace {
using detail::global_index;
using detail::global_stride;
using detail::kThreads;

constexpr unsigned kMaxPartials = 1024;  // blocks of the first pass (and threads of the second)

template <class T>
__global__ void sum_squares_partial_kernel(const T* x, int64_t n, double* partial) {
  __shared__ double scratch[32];
  double s = 0;
  for (int64_t i = global_index(); i < n; i += global_stride()) s += double(x[i]) * double(x[i]);
  s = detail::block_sum(s, scratch);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void sum_partials_kernel(const double* partial, unsigned count, double* out) {
  __shared__ double scratch[32];
  double s = 0;
  for (unsigned i = threadIdx.x; i < count; i += blockDim.x) s += partial[i];
  s = detail::block_sum(s, scratch);
  if (threadIdx.x == 0) *out = s;
}

template <class T>
__global__ void scale_by_kernel(T* x, int64_t n, double c) {
  for (int64_t i = global_index(); i < n; i += global_stride()) x[i] = T(double(x[i]) * c);
}

}  // namespace

template <class T>
double sum_squares(const T* x, int64_t n) {
  XCLIP_CHECK(n >= 0, "cuda::sum_squares: negative count ", n);
  if (n == 0) return 0.0;
  const unsigned blocks = std::min(kMaxPartials, detail::grid_for(n));
  detail::Scratch<double> partial(blocks + 1);
  cudaStream_t st = cuda_stream();
  sum_squares_partial_kernel<T><<<blocks, kThreads, 0, st>>>(x, n, partial.get());
  XCLIP_CUDA_LAUNCH_CHECK();
  sum_partials_kernel<<<1, kMaxPartials, 0, st>>>(partial.get(), blocks, partial.get() + blocks);
  XCLIP_CUDA_LAUNCH_CHECK();
  double result = 0;
  XCLIP_CUDA_CHECK(cudaMemcpyAsync(&result, partial.get() + blocks, sizeof(double), cudaMemcpyDeviceToHost, st));
  XCLIP_CUDA_CHECK(cudaStreamSynchronize(st));
  return result;
}

template <class T>
void scale_by(T* x, int64_t n, double c) {
  XCLIP_CHECK(n >= 0, "cuda::scale_by: negative count ", n);
  if (n == 0) return;
  scale_by_kernel<T><<<detail::grid_for(n), kThreads, 0, cuda_stream()>>>(x, n, c);
  XCLIP_CUDA_LAUNCH_CHECK();
}

template double sum_squares<float>(const float*, int64_t);
template double sum_squares<double>(const double*, int64_t);
template void scale_by<float>(float*, int64_t, double);
template void scale_by<double>(double*, int64_t, double);

}  // namespace xclip::cuda
