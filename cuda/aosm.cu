// The fused AOSM frame-word term on the GPU, twin of src/kernels/aosm.cpp.
//
// One thread block per (text, tile of videos). The text's L words and the tile's C = tile·N frames
// are staged through shared memory kChunkBytes of D at a time, transposed (d-major, so a thread
// reads four consecutive words or frames as one 16-byte word). Each thread accumulates a 4 × 4
// register tile of the L × C dot products: per d, two vector loads feed 16 FMAs (one load per
// FMA would leave the FMA units waiting on shared memory). Only those small blocks go to shared
// memory (never global), and one warp per (text, video) pair then runs both AOSM stages over the
// pair's L×N block and writes one value. The tile is chosen at run time: as many videos as the
// 256 threads' 4 × 4 tiles cover (⌈L/4⌉·⌈C/4⌉ ≤ 256), fewer when the grid would leave SMs idle.
//
// Element-type arithmetic in the pooling uses the exactly rounded helpers (no FMA contraction), so
// the mask terms and products round as on the CPU; sums and the softmax are in double as there.
// Each dot product is summed over d in increasing order, as on the CPU.
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
constexpr int kTile = 4;            // each thread's register tile: kTile words × kTile frames
constexpr int kChunkBytes = 64;     // of D staged per pass: 16 f32, 8 f64
constexpr int kMaxGridY = 65535;    // texts per launch (gridDim.y)

__host__ __device__ inline int64_t tiles_of(int64_t n) { return (n + kTile - 1) / kTile; }

// Register tiles of an L × C block of dot products: one per thread at most.
bool tiles_fit(int64_t L, int64_t C) { return tiles_of(L) * tiles_of(C) <= kThreads; }

// Shared memory of one block, in bytes. The staging area is dead once the dot products are done,
// so the pair blocks and the pooling scratch reuse it. Staged rows are d-major: chunk rows of the
// words (pitch_w ≥ L) and of the frames (pitch_c ≥ C), padded to whole register tiles plus one
// tile, so rows stay 16-byte aligned and the transposing stores of consecutive d spread over banks.
struct Layout {
  int pitch_w, pitch_c;  // elements per staged row
  size_t frames_at;      // the frame rows, after chunk word rows
  size_t staging;        // chunk × (pitch_w + pitch_c) values
  size_t blocks;         // tile·L·N values, pair after pair, each [L][N]
  size_t weights_at;     // per warp max(L, N) doubles: the softmax weights of one pooling
  size_t levels_at;      // per warp N + L values: word_level and frame_level of one pair
  size_t bytes;
};

Layout layout_for(int64_t L, int64_t N, int64_t tile, size_t elem) {
  const int64_t chunk = kChunkBytes / int64_t(elem);
  Layout s;
  s.pitch_w = int((tiles_of(L) + 1) * kTile);
  s.pitch_c = int((tiles_of(tile * N) + 1) * kTile);
  s.frames_at = size_t(chunk * s.pitch_w) * elem;
  s.staging = size_t(chunk * (s.pitch_w + s.pitch_c)) * elem;
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
  if (!tiles_fit(L, N) || layout_for(L, N, 1, elem).bytes > limit) return 0;
  int64_t tile = 1;
  while (tile < V && tiles_fit(L, (tile + 1) * N)) ++tile;
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

// rows × chunk values of src [rows, D] from column d0 into dst [chunk][pitch] (transposed), zero
// past D and past `rows` up to the pitch. Consecutive threads read consecutive d of a row
// (coalesced); their stores go to rows `pitch` apart, which the padding spreads over banks.
template <class T>
__device__ void stage(T* dst, int pitch, const T* src, int rows, int D, int d0) {
  constexpr int chunk = kChunkBytes / int(sizeof(T));
  for (int i = threadIdx.x; i < pitch * chunk; i += kThreads) {
    const int r = i / chunk, dd = i % chunk, d = d0 + dd;
    dst[dd * pitch + r] = r < rows && d < D ? src[int64_t(r) * D + d] : T(0);
  }
}

// Four consecutive values at p (16-byte aligned for f32, 32 for f64) in one or two vector loads.
__device__ __forceinline__ void load4(const float* p, float (&v)[kTile]) {
  const float4 q = *reinterpret_cast<const float4*>(p);
  v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
}
__device__ __forceinline__ void load4(const double* p, double (&v)[kTile]) {
  const double2 a = reinterpret_cast<const double2*>(p)[0], b = reinterpret_cast<const double2*>(p)[1];
  v[0] = a.x, v[1] = a.y, v[2] = b.x, v[3] = b.y;
}

// This thread's register tile of a block's L × C dot products: thread tid < ⌈L/4⌉·⌈C/4⌉ holds
// rows row0 + i = 4·(tid / ⌈C/4⌉) + i and columns col0 + j = 4·(tid % ⌈C/4⌉) + j; the others none.
struct ThreadTile {
  bool active;
  int row0, col0;
};

__device__ ThreadTile thread_tile(int L, int C) {
  const int col_tiles = int(tiles_of(C)), tid = int(threadIdx.x);
  if (tid >= int(tiles_of(L)) * col_tiles) return {false, 0, 0};
  return {true, tid / col_tiles * kTile, tid % col_tiles * kTile};
}

// The block's L × C dot products into acc[i][j] of the thread's tile (entries past L or C are
// zero and never stored).
template <class T>
__device__ void dot_products(const Args<T>& a, unsigned char* smem_raw, const T* words, const T* frames, int C,
                             const ThreadTile& tt, T (&acc)[kTile][kTile]) {
  constexpr int chunk = kChunkBytes / int(sizeof(T));
  T* ws = reinterpret_cast<T*>(smem_raw);
  T* fs = reinterpret_cast<T*>(smem_raw + a.layout.frames_at);
  for (int d0 = 0; d0 < a.D; d0 += chunk) {
    stage(ws, a.layout.pitch_w, words, a.L, a.D, d0);
    stage(fs, a.layout.pitch_c, frames, C, a.D, d0);
    __syncthreads();
    if (tt.active) {
#pragma unroll 4
      for (int dd = 0; dd < chunk; ++dd) {
        T w[kTile], f[kTile];
        load4(ws + dd * a.layout.pitch_w + tt.row0, w);
        load4(fs + dd * a.layout.pitch_c + tt.col0, f);
#pragma unroll
        for (int i = 0; i < kTile; ++i)
#pragma unroll
          for (int j = 0; j < kTile; ++j) acc[i][j] += w[i] * f[j];
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
  T acc[kTile][kTile];
#pragma unroll
  for (int i = 0; i < kTile; ++i)
#pragma unroll
    for (int j = 0; j < kTile; ++j) acc[i][j] = T(0);
  const ThreadTile tt = thread_tile(L, C);
  dot_products(a, smem_raw, a.words + int64_t(t) * L * a.D, a.frames + int64_t(v0) * N * a.D, C, tt, acc);

  // Pair p's block [L][N] at smem + p·L·N.
  if (tt.active) {
#pragma unroll
    for (int i = 0; i < kTile; ++i)
#pragma unroll
      for (int j = 0; j < kTile; ++j) {
        const int l = tt.row0 + i, c = tt.col0 + j;
        if (l < L && c < C) smem[((c / N) * L + l) * N + c % N] = acc[i][j];
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
  XCLIP_CHECK(tile > 0, "cuda aosm_frame_word: L = ", n_words, ", N = ", n_frames,
              " does not fit one thread block (at most ", kThreads, " register tiles of ", kTile, "×", kTile,
              ": ⌈L/4⌉·⌈N/4⌉ = ", tiles_of(n_words) * tiles_of(n_frames), "; shared memory ",
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
