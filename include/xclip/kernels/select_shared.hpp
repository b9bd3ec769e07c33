// Shared by the CPU and CUDA twins of the selection and dropout kernels (src/kernels/select.cpp,
// cuda/select.cu): the top-k of one column and the counter-based hash of dropout, written once so
// that both devices pick the same elements and draw the same masks bit for bit.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define XCLIP_HD __host__ __device__ __forceinline__
#else
#define XCLIP_HD inline
#endif

namespace xclip::k::select_detail {

// "a ranks before b" for top-k largest, sorted: larger value first, the lower position on ties
// (a strict total order, so the k picks are well defined).
template <class T>
XCLIP_HD bool ranks_before(T a, int64_t ia, T b, int64_t ib) {
  return a > b || (a == b && ia < ib);
}

// The k best positions of one column col[j·stride], j < n, best first, into out[r·out_stride]:
// k passes, each picking the best element ranked after the previous pick. O(k·n), no scratch
// memory (k is a handful in TC-MGC).
template <class T>
XCLIP_HD void topk_column(const T* col, int64_t n, int64_t stride, int64_t k, int64_t* out, int64_t out_stride) {
  int64_t prev = -1;
  for (int64_t r = 0; r < k; ++r) {
    int64_t best = -1;
    for (int64_t j = 0; j < n; ++j) {
      const T v = col[j * stride];
      if (prev >= 0 && !ranks_before(col[prev * stride], prev, v, j)) continue;  // picked already
      if (best < 0 || ranks_before(v, j, col[best * stride], best)) best = j;
    }
    out[r * out_stride] = best;
    prev = best;
  }
}

// SplitMix64's finaliser: a bijective mix of 64 bits.
XCLIP_HD uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A uniform double in [0, 1) from (seed, stream, element index): stateless, so any element of any
// call can be redrawn (a resumed run, a recomputed chunk) without saved generator state.
XCLIP_HD double uniform01(uint64_t seed, uint64_t stream, uint64_t index) {
  const uint64_t h = mix64(mix64(mix64(seed + 0x9e3779b97f4a7c15ULL) ^ stream) + index);
  return double(h >> 11) * (1.0 / 9007199254740992.0);  // 53 bits
}

}  // namespace xclip::k::select_detail
