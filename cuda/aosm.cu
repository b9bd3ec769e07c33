// The fused AOSM frame-word term on the GPU, twin of src/kernels/aosm.cpp.
//
// One thread block per (text, tile of videos). The text's L words and the tile's tile·N frames are
// staged through shared memory kChunk values of D at a time; each thread accumulates up to
// kPerThread of the L × (tile·N) dot products in registers. Only those small blocks go to shared
// memory (never global), and one warp per (text, video) pair then runs both AOSM stages over the
// pair's L×N block and writes one value. The tile is chosen from L·N at run time (as many videos
// as the 256 × 16 accumulators hold, fewer when the grid would leave SMs idle).
//
// Element-type arithmetic in the pooling uses the exactly rounded helpers (no FMA contraction), so
// the mask terms and products round as on the CPU; sums and the softmax are in double as there.
#include <algorithm>
#include <cmath>

#include "common.cuh"

namespace xclip::cuda {

namespace {

using detail::add_rn;
using detail::div_rn;
using detail::mul_rn;
using detail::warp_max_all;
using detail::warp_sum_all;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kPerThread = 16;                                  // accumulators per thread
constexpr int64_t kMaxOutputs = int64_t(kThreads) * kPerThread;  // dot products per block
constexpr int kChunkBytes = 64;                                 // of D staged per pass: 16 f32, 8 f64
constexpr int kMaxGridY = 65535;                                // texts per launch (gridDim.y)

// Shared memory of one block, in bytes. The staging area (words and frames, rows padded by one
// element so that column-wise reads hit distinct banks) is dead once the dot products are done,
// so the pair blocks and the pooling scratch reuse it.
struct Layout {
  size_t staging;     // (L + tile·N) rows × (chunk + 1)
  size_t blocks;      // tile·L·N values, pair after pair, each [L][N]
  size_t weights_at;  // per warp max(L, N) doubles: the softmax weights of one pooling
  size_t levels_at;   // per warp N + L values: word_level and frame_level of one pair
  size_t bytes;
};

Layout layout_for(int64_t L, int64_t N, int64_t tile, size_t elem) {
  const int64_t pitch = kChunkBytes / int64_t(elem) + 1;
  Layout s;
  s.staging = size_t((L + tile * N) * pitch) * elem;
  s.blocks = size_t(tile * L * N) * elem;
  s.weights_at = (s.blocks + 7) / 8 * 8;
  s.levels_at = s.weights_at + size_t(kWarps * std::max(L, N)) * sizeof(double);
  s.bytes = std::max(s.staging, s.levels_at + size_t(kWarps * (L + N)) * elem);
  return s;
}

int max_shared_bytes() {
  int device = 0, bytes = 0;
  XCLIP_CUDA_CHECK(cudaGetDevice(&device));
  XCLIP_CUDA_CHECK(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  return bytes;
}

int sm_count() {
  int device = 0, sms = 0;
  XCLIP_CUDA_CHECK(cudaGetDevice(&device));
  XCLIP_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  return sms;
}

// Videos per block; 0 when even one video does not fit.
int64_t choose_tile(int64_t texts, int64_t L, int64_t N, int64_t V, size_t elem) {
  const size_t limit = size_t(max_shared_bytes());
  if (L * N > kMaxOutputs || layout_for(L, N, 1, elem).bytes > limit) return 0;
  int64_t tile = std::max<int64_t>(1, std::min(V, kMaxOutputs / (L * N)));
  // Small problems: split the tile until the grid has about two blocks per SM.
  const int64_t want = 2 * int64_t(sm_count());
  while (tile > 1 && texts * ((V + tile - 1) / tile) < want) tile = (tile + 1) / 2;
  while (tile > 1 && layout_for(L, N, tile, elem).bytes > limit) --tile;
  return tile;
}

template <class T>
struct Args {
  const T *words, *frames, *word_mask, *frame_mask, *word_mat, *frame_mat, *frame_mat2, *word_mat2;
  AosmPool first, second;
  T tau;
  double inv_t;
  T* out;
  int text0, L, N, V, D, tile;
  Layout layout;
};

// aosm_pool's additive mask, (m − 1)·1e6, in T.
template <class T>
__device__ __forceinline__ T additive(T m) {
  return mul_rn(T(m - T(1)), T(1e6));
}

// NaN counts as the maximum, as cpu::reduce_max.
template <class T>
__device__ __forceinline__ T max_nan(T a, T b) {
  return isnan(a) ? a : (isnan(b) || b > a ? b : a);
}

// The CPU softmax (max-subtracted, double) on double(x + τ·additive)·(1/τ), the optional mix
// w'_j = Σ_i w_i·M[i, j] and mask, and Σ x·w'. Every lane returns the result. `w` is this warp's
// scratch of n doubles.
template <class T>
__device__ T warp_attention(const Args<T>& a, const T* x, int stride, int n, const T* mask, const T* mix, double* w) {
  const int lane = threadIdx.x & 31;
  double zmax = -INFINITY;
  for (int k = lane; k < n; k += 32) {
    T xk = x[k * stride];
    if (mask) xk = add_rn(xk, mul_rn(additive(mask[k]), a.tau));
    w[k] = double(xk) * a.inv_t;
    zmax = fmax(zmax, w[k]);
  }
  zmax = warp_max_all(zmax);
  double s = 0;
  for (int k = lane; k < n; k += 32) s += (w[k] = ::exp(w[k] - zmax));
  const double r = 1.0 / warp_sum_all(s);
  double sum = 0;
  for (int k = lane; k < n; k += 32) {
    const T wk = T(w[k] * r);
    w[k] = double(wk);
    if (!mix) sum += double(mul_rn(x[k * stride], wk));
  }
  if (mix) {
    __syncwarp();  // every lane reads every weight
    for (int j = lane; j < n; j += 32) {
      double acc = 0;
      for (int i = 0; i < n; ++i) acc = __dadd_rn(acc, __dmul_rn(w[i], double(mix[int64_t(i) * n + j])));
      T wj = T(acc);
      if (mask) wj = mul_rn(wj, mask[j]);  // the mix may have moved weight onto padding
      sum += double(mul_rn(x[j * stride], wj));
    }
  }
  __syncwarp();  // the scratch is reused by the next pooling
  return T(warp_sum_all(sum));
}

template <class T>
__device__ T warp_mean(const T* x, int stride, int n, const T* mask) {
  const int lane = threadIdx.x & 31;
  double sum = 0, count = 0;
  for (int k = lane; k < n; k += 32) {
    sum += double(mask ? mul_rn(x[k * stride], mask[k]) : x[k * stride]);
    if (mask) count += double(mask[k]);
  }
  sum = warp_sum_all(sum);
  if (!mask) return mul_rn(T(sum), T(1.0 / double(n)));
  T c = T(warp_sum_all(count));
  if (c < T(1)) c = T(1);
  return div_rn(T(sum), c);
}

template <class T>
__device__ T warp_max(const T* x, int stride, int n, const T* mask) {
  const int lane = threadIdx.x & 31;
  auto value = [&](int k) { return mask ? add_rn(x[k * stride], additive(mask[k])) : x[k * stride]; };
  T best = value(0);  // every lane starts from a member, so lanes with no elements of their own are harmless
  for (int k = lane; k < n; k += 32) best = max_nan(best, value(k));
  for (int off = 16; off > 0; off >>= 1) best = max_nan(best, __shfl_xor_sync(0xffffffffu, best, off));
  return best;
}

template <class T>
__device__ T warp_pool(const Args<T>& a, AosmPool kind, const T* x, int stride, int n, const T* mask, const T* mix,
                       double* w) {
  switch (kind) {
    case AosmPool::attention: return warp_attention(a, x, stride, n, mask, mix, w);
    case AosmPool::mean: return warp_mean(x, stride, n, mask);
    default: return warp_max(x, stride, n, mask);
  }
}

// rows × chunk values of src [rows, D] from column d0 into dst [rows][chunk + 1], zero past D.
template <class T>
__device__ void stage(T* dst, const T* src, int rows, int D, int d0) {
  constexpr int chunk = kChunkBytes / int(sizeof(T)), pitch = chunk + 1;
  for (int i = threadIdx.x; i < rows * chunk; i += kThreads) {
    const int r = i / chunk, dd = i % chunk, d = d0 + dd;
    dst[r * pitch + dd] = d < D ? src[int64_t(r) * D + d] : T(0);
  }
}

// Dot products of the block: acc[k] is output o = threadIdx.x + k·kThreads of L × C (row-major).
template <class T>
__device__ void dot_products(const Args<T>& a, T* smem, const T* words, const T* frames, int C, T (&acc)[kPerThread]) {
  constexpr int chunk = kChunkBytes / int(sizeof(T)), pitch = chunk + 1;
  T* ws = smem;
  T* fs = smem + a.L * pitch;
  const int outputs = a.L * C;
  for (int d0 = 0; d0 < a.D; d0 += chunk) {
    stage(ws, words, a.L, a.D, d0);
    stage(fs, frames, C, a.D, d0);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kPerThread; ++k) {
      const int o = threadIdx.x + k * kThreads;
      if (o < outputs) {
        const T* wr = ws + (o / C) * pitch;
        const T* fr = fs + (o % C) * pitch;
#pragma unroll
        for (int dd = 0; dd < chunk; ++dd) acc[k] += wr[dd] * fr[dd];
      }
    }
    __syncthreads();  // the next chunk (or the pair blocks) overwrites the staging area
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads) aosm_frame_word_kernel(Args<T> a) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* smem = reinterpret_cast<T*>(smem_raw);
  const int t = a.text0 + int(blockIdx.y), v0 = int(blockIdx.x) * a.tile;
  const int nv = min(a.tile, a.V - v0), C = nv * a.N, L = a.L, N = a.N;
  T acc[kPerThread];
#pragma unroll
  for (int k = 0; k < kPerThread; ++k) acc[k] = T(0);
  dot_products(a, smem, a.words + int64_t(t) * L * a.D, a.frames + int64_t(v0) * N * a.D, C, acc);

  // Pair p's block [L][N] at smem + p·L·N.
#pragma unroll
  for (int k = 0; k < kPerThread; ++k) {
    const int o = threadIdx.x + k * kThreads;
    if (o < L * C) {
      const int l = o / C, c = o % C;
      smem[((c / N) * L + l) * N + c % N] = acc[k];
    }
  }
  __syncthreads();

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  double* w = reinterpret_cast<double*>(smem_raw + a.layout.weights_at) + warp * max(L, N);
  T* word_level = reinterpret_cast<T*>(smem_raw + a.layout.levels_at) + warp * (L + N);
  T* frame_level = word_level + N;
  const T* wmask = a.word_mask ? a.word_mask + int64_t(t) * L : nullptr;
  for (int p = warp; p < nv; p += kWarps) {
    const T* block = smem + p * L * N;
    const T* fmask = a.frame_mask ? a.frame_mask + int64_t(v0 + p) * N : nullptr;
    for (int n = 0; n < N; ++n) {
      const T r = warp_pool(a, a.first, block + n, N, L, wmask, a.word_mat, w);
      if (lane == 0) word_level[n] = r;
    }
    for (int l = 0; l < L; ++l) {
      const T r = warp_pool(a, a.first, block + l * N, 1, N, fmask, a.frame_mat, w);
      if (lane == 0) frame_level[l] = r;
    }
    __syncwarp();
    const T sent2frame = warp_pool(a, a.second, word_level, 1, N, fmask, a.frame_mat2, w);
    const T video2word = warp_pool(a, a.second, frame_level, 1, L, wmask, a.word_mat2, w);
    if (lane == 0) a.out[int64_t(t) * a.V + v0 + p] = mul_rn(add_rn(sent2frame, video2word), T(0.5));
    __syncwarp();  // the levels are rewritten for the warp's next pair
  }
}

}  // namespace

bool aosm_frame_word_fits(int64_t n_words, int64_t n_frames, size_t elem_size) {
  return n_words >= 1 && n_frames >= 1 && choose_tile(1, n_words, n_frames, 1, elem_size) > 0;
}

template <class T>
void aosm_frame_word(const T* words, const T* frames, const T* word_mask, const T* frame_mask, const T* word_mat,
                     const T* frame_mat, const T* frame_mat2, const T* word_mat2, AosmPool first, AosmPool second,
                     double temperature, T* out, int64_t n_texts, int64_t n_words, int64_t n_videos,
                     int64_t n_frames, int64_t dim) {
  cpu::aosm_frame_word_check("cuda aosm_frame_word", n_texts, n_words, n_videos, n_frames, dim, temperature);
  if (n_texts == 0 || n_videos == 0) return;
  const int64_t tile = choose_tile(n_texts, n_words, n_frames, n_videos, sizeof(T));
  XCLIP_CHECK(tile > 0, "cuda aosm_frame_word: L·N = ", n_words, "·", n_frames, " = ", n_words * n_frames,
              " does not fit one thread block (at most ", kMaxOutputs, " dot products, and shared memory of ",
              layout_for(n_words, n_frames, 1, sizeof(T)).bytes, " bytes against ", max_shared_bytes(),
              "); use the chunked frame-word path");
  const bool mix1 = first == AosmPool::attention, mix2 = second == AosmPool::attention;
  Args<T> a{words, frames, word_mask, frame_mask, mix1 ? word_mat : nullptr, mix1 ? frame_mat : nullptr,
            mix2 ? frame_mat2 : nullptr, mix2 ? word_mat2 : nullptr, first, second, T(temperature),
            1.0 / temperature, out, 0,
            detail::checked_int(n_words, "L"), detail::checked_int(n_frames, "N"),
            detail::checked_int(n_videos, "V"), detail::checked_int(dim, "D"), int(tile),
            layout_for(n_words, n_frames, tile, sizeof(T))};
  detail::checked_int(n_texts, "T");
  const size_t bytes = a.layout.bytes;
  if (bytes > 48 * 1024)
    XCLIP_CUDA_CHECK(cudaFuncSetAttribute(aosm_frame_word_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          int(bytes)));
  const unsigned tiles = unsigned((n_videos + tile - 1) / tile);
  for (int64_t t0 = 0; t0 < n_texts; t0 += kMaxGridY) {
    a.text0 = int(t0);
    const dim3 grid(tiles, unsigned(std::min<int64_t>(kMaxGridY, n_texts - t0)));
    aosm_frame_word_kernel<T><<<grid, kThreads, bytes, cuda_stream()>>>(a);
    XCLIP_CUDA_LAUNCH_CHECK();
  }
}

#define XCLIP_INSTANTIATE(T)                                                                                   \
  template void aosm_frame_word<T>(const T*, const T*, const T*, const T*, const T*, const T*, const T*, const T*, \
                                   AosmPool, AosmPool, double, T*, int64_t, int64_t, int64_t, int64_t, int64_t);
XCLIP_INSTANTIATE(float)
XCLIP_INSTANTIATE(double)
#undef XCLIP_INSTANTIATE

}  // namespace xclip::cuda
