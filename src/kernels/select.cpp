// Selection and dropout kernels on the CPU (twins in cuda/select.cu): top-k positions along an
// axis and the stateless dropout mask. The column loop and the hash: kernels/select_shared.hpp.
#include "xclip/kernels/cpu.hpp"
#include "xclip/kernels/select_shared.hpp"

namespace xclip::cpu {

template <class T>
void topk_axis(const T* x, int64_t* index, int64_t outer, int64_t n, int64_t k, int64_t inner) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i)
      k::select_detail::topk_column(x + o * n * inner + i, n, inner, k, index + o * k * inner + i, inner);
}

template <class T>
void dropout_mask(T* mask, int64_t n, double p, uint64_t seed, uint64_t stream) {
  const T keep_scale = T(1.0 / (1.0 - p));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i)
    mask[i] = k::select_detail::uniform01(seed, stream, uint64_t(i)) < p ? T(0) : keep_scale;
}

template void topk_axis<float>(const float*, int64_t*, int64_t, int64_t, int64_t, int64_t);
template void topk_axis<double>(const double*, int64_t*, int64_t, int64_t, int64_t, int64_t);
template void dropout_mask<float>(float*, int64_t, double, uint64_t, uint64_t);
template void dropout_mask<double>(double*, int64_t, double, uint64_t, uint64_t);

}  // namespace xclip::cpu
