// Selection and dropout kernels on the GPU; twins of src/kernels/select.cpp (same order, same
// hash: include/xclip/kernels/select_shared.hpp), so both devices select and drop the same elements.
#include "common.cuh"
#include "xclip/kernels/select_shared.hpp"

namespace xclip::cuda {

namespace {
using detail::global_index;
using detail::global_stride;
using detail::kThreads;

// One thread per column (o, i), the same column loop as the CPU twin.
template <class T>
__global__ void topk_axis_kernel(const T* x, int64_t* index, int64_t outer, int64_t n, int64_t k, int64_t inner) {
  for (int64_t c = global_index(); c < outer * inner; c += global_stride()) {
    const int64_t o = c / inner, i = c % inner;
    k::select_detail::topk_column(x + o * n * inner + i, n, inner, k, index + o * k * inner + i, inner);
  }
}

template <class T>
__global__ void dropout_mask_kernel(T* mask, int64_t n, double p, uint64_t seed, uint64_t stream, T keep_scale) {
  for (int64_t i = global_index(); i < n; i += global_stride())
    mask[i] = k::select_detail::uniform01(seed, stream, uint64_t(i)) < p ? T(0) : keep_scale;
}
}  // namespace

template <class T>
void topk_axis(const T* x, int64_t* index, int64_t outer, int64_t n, int64_t k, int64_t inner) {
  XCLIP_CHECK(outer >= 0 && inner >= 0 && k >= 1 && k <= n, "cuda::topk_axis: k ", k, " for an axis of ", n);
  if (outer * inner == 0) return;
  topk_axis_kernel<T><<<detail::grid_for(outer * inner), kThreads, 0, cuda_stream()>>>(x, index, outer, n, k, inner);
  XCLIP_CUDA_LAUNCH_CHECK();
}

template <class T>
void dropout_mask(T* mask, int64_t n, double p, uint64_t seed, uint64_t stream) {
  XCLIP_CHECK(n >= 0 && p >= 0 && p < 1, "cuda::dropout_mask: n ", n, ", p ", p);
  if (n == 0) return;
  dropout_mask_kernel<T><<<detail::grid_for(n), kThreads, 0, cuda_stream()>>>(mask, n, p, seed, stream,
                                                                             T(1.0 / (1.0 - p)));
  XCLIP_CUDA_LAUNCH_CHECK();
}

template void topk_axis<float>(const float*, int64_t*, int64_t, int64_t, int64_t, int64_t);
template void topk_axis<double>(const double*, int64_t*, int64_t, int64_t, int64_t, int64_t);
template void dropout_mask<float>(float*, int64_t, double, uint64_t, uint64_t);
template void dropout_mask<double>(double*, int64_t, double, uint64_t, uint64_t);

}  // namespace xclip::cuda
