// The fused AOSM frame-word term (see cpu.hpp): per (text, tile of videos) one GEMM of the tile's
// frames against the text's L words into a per-thread buffer of (tile·N) × L values, then the two
// AOSM stages of every pair in that tile. The [T, L, V, N] tensor never exists. The frames are the
// GEMM's row operand (read in place, row-major) and the words the small transposed one: with the
// words as rows, packing the transposed frames cost more than the products (one query against
// thousands of videos, xclip-cli search).
//
// The pooling repeats the arithmetic of models::aosm_pool as the graph runs it (element-type
// products and mask terms, double sums, the CPU softmax's max subtraction), so the two paths agree
// to rounding of the dot products; only those differ (one GEMM per tile instead of one for all).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "xclip/core/error.hpp"
#include "xclip/kernels/cpu.hpp"

namespace xclip::cpu {

namespace {

// Columns of the per-thread block: enough frames to keep the GEMM efficient, few enough that the
// block (L × columns) stays in L2.
constexpr int64_t kTileColumns = 256;

// One AOSM pooling over n values x[k·stride], with the mask m (null = none) and the mixing matrix
// (null = identity; attention only). Holds the scratch of one thread.
template <class T>
class Pooler {
 public:
  Pooler(AosmPool kind, double temperature, int64_t max_len)
      : kind_(kind), tau_(T(temperature)), inv_t_(1.0 / temperature), e_(size_t(max_len)), w_(size_t(max_len)) {}

  T operator()(const T* x, int64_t stride, int64_t n, const T* mask, const T* mix) {
    switch (kind_) {
      case AosmPool::attention: return attention(x, stride, n, mask, mix);
      case AosmPool::mean: return mean(x, stride, n, mask);
      case AosmPool::max: return max(x, stride, n, mask);
    }
    return T(0);
  }

 private:
  // aosm_pool's additive mask, (m − 1)·1e6, formed in T as the graph forms it.
  static T additive(T m) { return (m - T(1)) * T(1e6); }

  // Σ x·w with w = softmax(x/τ + additive) [· mix, · mask]: ops::softmax folds the mask in as
  // x + τ·additive and the CPU softmax then works on double(x')·(1/τ).
  T attention(const T* x, int64_t stride, int64_t n, const T* mask, const T* mix) {
    double zmax = -std::numeric_limits<double>::infinity();
    for (int64_t k = 0; k < n; ++k) {
      T xk = x[k * stride];
      if (mask) xk = xk + additive(mask[k]) * tau_;
      e_[size_t(k)] = double(xk) * inv_t_;
      zmax = std::max(zmax, e_[size_t(k)]);
    }
    double s = 0;
    for (int64_t k = 0; k < n; ++k) s += (e_[size_t(k)] = std::exp(e_[size_t(k)] - zmax));
    const double r = 1.0 / s;
    for (int64_t k = 0; k < n; ++k) w_[size_t(k)] = T(e_[size_t(k)] * r);
    double sum = 0;
    if (!mix) {
      for (int64_t k = 0; k < n; ++k) sum += double(x[k * stride] * w_[size_t(k)]);
      return T(sum);
    }
    // w'_j = Σ_i w_i·M[i, j], row by row so that M is read in order; e_ holds the sums now. The
    // inner loop is most of the kernel's time: restrict pointers let it vectorise.
    double* __restrict acc = e_.data();
    std::fill(acc, acc + n, 0.0);
    for (int64_t i = 0; i < n; ++i) {
      const double wi = double(w_[size_t(i)]);
      const T* __restrict row = mix + i * n;
      for (int64_t j = 0; j < n; ++j) acc[j] += wi * double(row[j]);
    }
    for (int64_t j = 0; j < n; ++j) {
      T wj = T(e_[size_t(j)]);
      if (mask) wj = wj * mask[j];  // the mix may have moved weight onto padding
      sum += double(x[j * stride] * wj);
    }
    return T(sum);
  }

  // Σ x·m / max(Σ m, 1), or the plain mean (sum times 1/n, as ops::mean).
  static T mean(const T* x, int64_t stride, int64_t n, const T* mask) {
    double sum = 0;
    if (!mask) {
      for (int64_t k = 0; k < n; ++k) sum += double(x[k * stride]);
      return T(sum) * T(1.0 / double(n));
    }
    double count = 0;
    for (int64_t k = 0; k < n; ++k) {
      sum += double(x[k * stride] * mask[k]);
      count += double(mask[k]);
    }
    T c = T(count);
    if (c < T(1)) c = T(1);
    return T(sum) / c;
  }

  // max_k (x_k + additive_k); NaN counts as the maximum, as cpu::reduce_max.
  static T max(const T* x, int64_t stride, int64_t n, const T* mask) {
    T best = T(0);
    for (int64_t k = 0; k < n; ++k) {
      const T v = mask ? x[k * stride] + additive(mask[k]) : x[k * stride];
      if (k == 0 || v > best || std::isnan(v)) best = v;
      if (std::isnan(best)) break;
    }
    return best;
  }

  AosmPool kind_;
  T tau_;
  double inv_t_;
  std::vector<double> e_;
  std::vector<T> w_;
};

template <class T>
struct Problem {
  const T *words, *frames, *word_mask, *frame_mask, *word_mat, *frame_mat, *frame_mat2, *word_mat2;
  AosmPool first, second;
  double temperature;
  T* out;
  int64_t texts, L, videos, N, D;
};

// Everything one thread owns: the block buffer and the scratch of the pooling.
template <class T>
struct ThreadState {
  ThreadState(const Problem<T>& p, int64_t columns)
      : block(size_t(p.L * columns)),
        word_level(size_t(p.N)),
        frame_level(size_t(p.L)),
        first(p.first, p.temperature, std::max(p.L, p.N)),
        second(p.second, p.temperature, std::max(p.L, p.N)) {}
  std::vector<T> block;
  std::vector<T> word_level, frame_level;
  Pooler<T> first, second;
};

// Both stages for text t and video v, whose N×L block (frame n, word l at c[n·L + l]) starts at `c`.
template <class T>
T pair_score(const Problem<T>& p, ThreadState<T>& s, const T* c, int64_t t, int64_t v) {
  const T* wmask = p.word_mask ? p.word_mask + t * p.L : nullptr;
  const T* fmask = p.frame_mask ? p.frame_mask + v * p.N : nullptr;
  for (int64_t n = 0; n < p.N; ++n) s.word_level[size_t(n)] = s.first(c + n * p.L, 1, p.L, wmask, p.word_mat);
  for (int64_t l = 0; l < p.L; ++l) s.frame_level[size_t(l)] = s.first(c + l, p.L, p.N, fmask, p.frame_mat);
  const T sent2frame = s.second(s.word_level.data(), 1, p.N, fmask, p.frame_mat2);
  const T video2word = s.second(s.frame_level.data(), 1, p.L, wmask, p.word_mat2);
  return (sent2frame + video2word) * T(0.5);
}

template <class T>
void run(const Problem<T>& p) {
  const int64_t tile = std::clamp<int64_t>(kTileColumns / p.N, 1, p.videos);
  const int64_t tiles = (p.videos + tile - 1) / tile;
  // Inside this region cpu::gemm runs on the calling thread only (no nested team).
#pragma omp parallel num_threads(num_threads()) if (p.texts * tiles > 1)
  {
    ThreadState<T> s(p, tile * p.N);
#pragma omp for schedule(dynamic)
    for (int64_t item = 0; item < p.texts * tiles; ++item) {
      const int64_t t = item / tiles, v0 = (item % tiles) * tile, nv = std::min(tile, p.videos - v0);
      const int64_t cols = nv * p.N;
      gemm<T>(false, true, cols, p.L, p.D, T(1), p.frames + v0 * p.N * p.D, p.D, p.words + t * p.L * p.D, p.D, T(0),
              s.block.data(), p.L);
      for (int64_t j = 0; j < nv; ++j)
        p.out[t * p.videos + v0 + j] = pair_score(p, s, s.block.data() + j * p.N * p.L, t, v0 + j);
    }
  }
}

}  // namespace

void aosm_frame_word_check(const char* who, int64_t n_texts, int64_t n_words, int64_t n_videos, int64_t n_frames,
                           int64_t dim, double temperature) {
  XCLIP_CHECK(n_texts >= 0 && n_videos >= 0 && n_words >= 1 && n_frames >= 1 && dim >= 0, who, ": sizes T=", n_texts,
              " L=", n_words, " V=", n_videos, " N=", n_frames, " D=", dim);
  XCLIP_CHECK(temperature > 0, who, ": temperature must be positive, got ", temperature);
}

template <class T>
void aosm_frame_word(const T* words, const T* frames, const T* word_mask, const T* frame_mask, const T* word_mat,
                     const T* frame_mat, const T* frame_mat2, const T* word_mat2, AosmPool first, AosmPool second,
                     double temperature, T* out, int64_t n_texts, int64_t n_words, int64_t n_videos,
                     int64_t n_frames, int64_t dim) {
  aosm_frame_word_check("aosm_frame_word", n_texts, n_words, n_videos, n_frames, dim, temperature);
  if (n_texts == 0 || n_videos == 0) return;
  // Mixing matrices belong to attention pooling only (aosm_pool ignores them otherwise).
  const bool mix1 = first == AosmPool::attention, mix2 = second == AosmPool::attention;
  const Problem<T> p{words, frames, word_mask, frame_mask, mix1 ? word_mat : nullptr, mix1 ? frame_mat : nullptr,
                     mix2 ? frame_mat2 : nullptr, mix2 ? word_mat2 : nullptr, first, second, temperature, out,
                     n_texts, n_words, n_videos, n_frames, dim};
  run(p);
}

#define XCLIP_INSTANTIATE(T)                                                                                   \
  template void aosm_frame_word<T>(const T*, const T*, const T*, const T*, const T*, const T*, const T*, const T*, \
                                   AosmPool, AosmPool, double, T*, int64_t, int64_t, int64_t, int64_t, int64_t);
XCLIP_INSTANTIATE(float)
XCLIP_INSTANTIATE(double)
#undef XCLIP_INSTANTIATE

}  // namespace xclip::cpu
