// Patch-embedding convolution helpers on the GPU (kernel = stride = p): im2col and its adjoint.
// Column order (c, ky, kx), rows row-major over (b, grid y, grid x), as src/kernels/conv.cpp.
// Patches do not overlap, so col2im is a gather (one thread per pixel, no atomics).
#include "common.cuh"

namespace xclip::cuda {

namespace {
using detail::global_index;
using detail::global_stride;
using detail::grid_for;
using detail::kThreads;

// Thread per cols element (consecutive threads write consecutive columns).
template <class T>
__global__ void im2col_kernel(const T* x, T* cols, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p) {
  const int64_t gh = H / p, gw = W / p, K = C * p * p;
  const int64_t total = B * gh * gw * K;
  for (int64_t t = global_index(); t < total; t += global_stride()) {
    const int64_t col = t % K, row = t / K;
    const int64_t kx = col % p, ky = (col / p) % p, c = col / (p * p);
    const int64_t gx = row % gw, gy = (row / gw) % gh, b = row / (gw * gh);
    cols[t] = x[((b * C + c) * H + gy * p + ky) * W + gx * p + kx];
  }
}

// Thread per pixel of gx; pixels outside the patch grid (H or W not a multiple of p) get 0.
template <class T>
__global__ void col2im_kernel(const T* gcols, T* gx, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p) {
  const int64_t gh = H / p, gw = W / p, K = C * p * p;
  const int64_t total = B * C * H * W;
  for (int64_t t = global_index(); t < total; t += global_stride()) {
    const int64_t w = t % W, h = (t / W) % H, c = (t / (W * H)) % C, b = t / (W * H * C);
    const int64_t gy = h / p, gxi = w / p;
    if (gy >= gh || gxi >= gw) {
      gx[t] = T(0);
      continue;
    }
    const int64_t row = (b * gh + gy) * gw + gxi, col = (c * p + h % p) * p + w % p;
    gx[t] = gcols[row * K + col];
  }
}

void check_sizes(const char* who, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p) {
  XCLIP_CHECK(B >= 0 && C >= 0 && H >= 0 && W >= 0 && p > 0, who, ": bad sizes B=", B, " C=", C, " H=", H, " W=", W,
              " p=", p);
}

}  // namespace

template <class T>
void im2col_patches(const T* x, T* cols, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p) {
  check_sizes("cuda::im2col_patches", B, C, H, W, p);
  const int64_t total = B * (H / p) * (W / p) * C * p * p;
  if (total == 0) return;
  im2col_kernel<T><<<grid_for(total), kThreads, 0, cuda_stream()>>>(x, cols, B, C, H, W, p);
  XCLIP_CUDA_LAUNCH_CHECK();
}

template <class T>
void col2im_patches(const T* gcols, T* gx, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p) {
  check_sizes("cuda::col2im_patches", B, C, H, W, p);
  const int64_t total = B * C * H * W;
  if (total == 0) return;
  col2im_kernel<T><<<grid_for(total), kThreads, 0, cuda_stream()>>>(gcols, gx, B, C, H, W, p);
  XCLIP_CUDA_LAUNCH_CHECK();
}

template void im2col_patches<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void im2col_patches<double>(const double*, double*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void col2im_patches<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void col2im_patches<double>(const double*, double*, int64_t, int64_t, int64_t, int64_t, int64_t);

}  // namespace xclip::cuda
