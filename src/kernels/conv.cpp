// Patch-embedding convolution (kernel = stride = patch) as im2col + GEMM; these are the
// im2col/col2im halves. Column order is (c, ky, kx), matching a flattened [O, C, p, p] weight.
#include "xclip/kernels/cpu.hpp"

namespace xclip::cpu {

template <class T>
void im2col_patches(const T* x, T* cols, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p) {
  const int64_t gh = H / p, gw = W / p, K = C * p * p;
#pragma omp parallel for collapse(2) schedule(static) if (B * gh * gw * K >= (1 << 16))
  for (int64_t b = 0; b < B; ++b)
    for (int64_t gy = 0; gy < gh; ++gy)
      for (int64_t gx = 0; gx < gw; ++gx) {
        T* row = cols + ((b * gh + gy) * gw + gx) * K;
        for (int64_t c = 0; c < C; ++c)
          for (int64_t ky = 0; ky < p; ++ky) {
            const T* src = x + ((b * C + c) * H + gy * p + ky) * W + gx * p;
            T* dst = row + (c * p + ky) * p;
            for (int64_t kx = 0; kx < p; ++kx) dst[kx] = src[kx];
          }
      }
}

template <class T>
void col2im_patches(const T* gcols, T* gx, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p) {
  const int64_t gh = H / p, gw = W / p, K = C * p * p;
  for (int64_t i = 0; i < B * C * H * W; ++i) gx[i] = T(0);
#pragma omp parallel for collapse(2) schedule(static) if (B * gh * gw * K >= (1 << 16))
  for (int64_t b = 0; b < B; ++b)
    for (int64_t gy = 0; gy < gh; ++gy)
      for (int64_t gxi = 0; gxi < gw; ++gxi) {
        const T* row = gcols + ((b * gh + gy) * gw + gxi) * K;
        for (int64_t c = 0; c < C; ++c)
          for (int64_t ky = 0; ky < p; ++ky) {
            T* dst = gx + ((b * C + c) * H + gy * p + ky) * W + gxi * p;
            const T* src = row + (c * p + ky) * p;
            for (int64_t kx = 0; kx < p; ++kx) dst[kx] = src[kx];
          }
      }
}

template void im2col_patches<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void im2col_patches<double>(const double*, double*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void col2im_patches<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void col2im_patches<double>(const double*, double*, int64_t, int64_t, int64_t, int64_t, int64_t);

}  // namespace xclip::cpu
