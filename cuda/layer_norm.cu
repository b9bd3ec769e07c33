// LayerNorm over the last dimension on the GPU: one block per row, statistics in double (as the
// CPU twin, src/kernels/layer_norm.cpp), parameter gradients as deterministic column sums.
#include <algorithm>

#include "common.cuh"

namespace xclip::cuda {

namespace {
using detail::add_rn;
using detail::block_sum;
using detail::mul_rn;

int row_threads(int64_t dim) { return dim <= 256 ? 64 : (dim <= 1024 ? 128 : 256); }
unsigned row_blocks(int64_t rows) { return unsigned(std::min<int64_t>(rows, int64_t(1) << 20)); }

template <class T>
__global__ void layer_norm_forward_kernel(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd,
                                          int64_t rows, int64_t dim, double eps) {
  __shared__ double scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * dim;
    double s = 0;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) s += double(xr[j]);
    const double mu = block_sum(s, scratch) / double(dim);
    double v = 0;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
      const double d = double(xr[j]) - mu;
      v += d * d;
    }
    const double rs = 1.0 / sqrt(block_sum(v, scratch) / double(dim) + eps);
    T* yr = y + r * dim;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
      const T xhat = T((double(xr[j]) - mu) * rs);
      // The CPU's rounding: xhat·w, then + b, each rounded in T.
      yr[j] = add_rn(mul_rn(xhat, weight ? weight[j] : T(1)), bias ? bias[j] : T(0));
    }
    if (threadIdx.x == 0) {
      if (mean) mean[r] = T(mu);
      if (rstd) rstd[r] = T(rs);
    }
  }
}

// gx = rstd · (g − mean(g) − xhat · mean(g · xhat)), g = gy · weight.
template <class T>
__global__ void layer_norm_backward_kernel(const T* gy, const T* x, const T* weight, const T* mean, const T* rstd,
                                           T* gx, int64_t rows, int64_t dim) {
  __shared__ double scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * dim;
    const T* gr = gy + r * dim;
    const double mu = double(mean[r]), rs = double(rstd[r]);
    double sum_g = 0, sum_gx = 0;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
      const double g = double(gr[j]) * (weight ? double(weight[j]) : 1.0);
      const double xhat = (double(xr[j]) - mu) * rs;
      sum_g += g;
      sum_gx += g * xhat;
    }
    const double mg = block_sum(sum_g, scratch) / double(dim);
    const double mgx = block_sum(sum_gx, scratch) / double(dim);
    T* gxr = gx + r * dim;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
      const double g = double(gr[j]) * (weight ? double(weight[j]) : 1.0);
      const double xhat = (double(xr[j]) - mu) * rs;
      gxr[j] = T(rs * (g - mg - xhat * mgx));
    }
  }
}

// Column sums for gweight/gbias over rows [chunk·chunk_len, ...): thread per column. With one
// chunk it accumulates into gweight/gbias; otherwise it writes partial sums [chunk, dim].
template <class T>
__global__ void layer_norm_param_grad_kernel(const T* gy, const T* x, const T* mean, const T* rstd, T* gweight,
                                             T* gbias, double* part_w, double* part_b, int64_t rows, int64_t dim,
                                             int64_t chunk_len) {
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= dim) return;
  const int64_t begin = int64_t(blockIdx.y) * chunk_len;
  const int64_t end = begin + chunk_len < rows ? begin + chunk_len : rows;
  double gw = 0, gb = 0;
  for (int64_t r = begin; r < end; ++r) {
    const double g = double(gy[r * dim + j]);
    gw += g * (double(x[r * dim + j]) - double(mean[r])) * double(rstd[r]);
    gb += g;
  }
  if (part_w) {
    part_w[int64_t(blockIdx.y) * dim + j] = gw;
    part_b[int64_t(blockIdx.y) * dim + j] = gb;
  } else {
    if (gweight) gweight[j] += T(gw);
    if (gbias) gbias[j] += T(gb);
  }
}

template <class T>
__global__ void layer_norm_param_finish_kernel(const double* part_w, const double* part_b, int64_t chunks, T* gweight,
                                               T* gbias, int64_t dim) {
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= dim) return;
  double gw = 0, gb = 0;
  for (int64_t c = 0; c < chunks; ++c) {
    gw += part_w[c * dim + j];
    gb += part_b[c * dim + j];
  }
  if (gweight) gweight[j] += T(gw);
  if (gbias) gbias[j] += T(gb);
}

template <class T>
void layer_norm_param_grads(const T* gy, const T* x, const T* mean, const T* rstd, T* gweight, T* gbias, int64_t rows,
                            int64_t dim) {
  constexpr int kT = detail::kThreads;
  constexpr int64_t kTargetThreads = int64_t(1) << 17, kMinChunk = 32, kMaxChunks = 4096;
  int64_t chunks = 1;
  if (rows > 2 * kMinChunk && dim < kTargetThreads)
    chunks = std::min({(rows + kMinChunk - 1) / kMinChunk, (kTargetThreads + dim - 1) / dim, kMaxChunks});
  const int64_t chunk_len = (rows + chunks - 1) / chunks;
  chunks = (rows + chunk_len - 1) / chunk_len;
  const int64_t blocks_x = (dim + kT - 1) / kT;
  XCLIP_CHECK(blocks_x <= int64_t(0x7fffffff), "cuda::layer_norm_backward: dim ", dim, " too large");
  const dim3 grid{unsigned(blocks_x), unsigned(chunks)};
  cudaStream_t st = cuda_stream();
  if (chunks == 1) {
    layer_norm_param_grad_kernel<T><<<grid, kT, 0, st>>>(gy, x, mean, rstd, gweight, gbias, nullptr, nullptr, rows,
                                                          dim, chunk_len);
    XCLIP_CUDA_LAUNCH_CHECK();
    return;
  }
  detail::Scratch<double> part(size_t(2 * chunks * dim));
  double* part_w = part.get();
  double* part_b = part.get() + chunks * dim;
  layer_norm_param_grad_kernel<T><<<grid, kT, 0, st>>>(gy, x, mean, rstd, gweight, gbias, part_w, part_b, rows, dim,
                                                        chunk_len);
  XCLIP_CUDA_LAUNCH_CHECK();
  layer_norm_param_finish_kernel<T><<<unsigned(blocks_x), kT, 0, st>>>(part_w, part_b, chunks, gweight, gbias, dim);
  XCLIP_CUDA_LAUNCH_CHECK();
}

}  // namespace

template <class T>
void layer_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd, int64_t rows,
                        int64_t dim, double eps) {
  XCLIP_CHECK(rows >= 0 && dim >= 0, "cuda::layer_norm_forward: negative size rows=", rows, " dim=", dim);
  if (rows == 0) return;
  layer_norm_forward_kernel<T><<<row_blocks(rows), row_threads(dim), 0, cuda_stream()>>>(x, weight, bias, y, mean,
                                                                                         rstd, rows, dim, eps);
  XCLIP_CUDA_LAUNCH_CHECK();
}

template <class T>
void layer_norm_backward(const T* gy, const T* x, const T* weight, const T* mean, const T* rstd, T* gx, T* gweight,
                         T* gbias, int64_t rows, int64_t dim) {
  XCLIP_CHECK(rows >= 0 && dim >= 0, "cuda::layer_norm_backward: negative size rows=", rows, " dim=", dim);
  if (rows == 0 || dim == 0) return;
  layer_norm_backward_kernel<T><<<row_blocks(rows), row_threads(dim), 0, cuda_stream()>>>(gy, x, weight, mean, rstd,
                                                                                          gx, rows, dim);
  XCLIP_CUDA_LAUNCH_CHECK();
  if (gweight || gbias) layer_norm_param_grads(gy, x, mean, rstd, gweight, gbias, rows, dim);
}

template void layer_norm_forward<float>(const float*, const float*, const float*, float*, float*, float*, int64_t,
                                        int64_t, double);
template void layer_norm_forward<double>(const double*, const double*, const double*, double*, double*, double*,
                                         int64_t, int64_t, double);
template void layer_norm_backward<float>(const float*, const float*, const float*, const float*, const float*, float*,
                                         float*, float*, int64_t, int64_t);
template void layer_norm_backward<double>(const double*, const double*, const double*, const double*, const double*,
                                          double*, double*, double*, int64_t, int64_t);

}  // namespace xclip::cuda
