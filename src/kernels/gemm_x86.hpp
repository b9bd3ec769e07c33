// Private to the GEMM: 256-bit vector operations and in-register transposes shared by the AVX2
// and AVX-512 translation units. Like gemm_tile.hpp, include it only AFTER the unit's
// `#pragma GCC target(...)` (it is compiled for that set) and keep it in an anonymous namespace.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace xclip::cpu::gemm_detail {
namespace {

#define XCLIP_GEMM_INLINE inline __attribute__((always_inline))

// dst[c·dst_stride + r] = src[r·stride + c] for an 8×8 block of floats.
XCLIP_GEMM_INLINE void transpose_8x8(const float* src, int64_t stride, float* dst, int64_t dst_stride) {
  __m256 r[8], t[8], u[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * stride);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(dst + i * dst_stride, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * dst_stride, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
  }
}

// dst[c·dst_stride + r] = src[r·stride + c] for a 4×4 block of doubles.
XCLIP_GEMM_INLINE void transpose_4x4(const double* src, int64_t stride, double* dst, int64_t dst_stride) {
  const __m256d r0 = _mm256_loadu_pd(src), r1 = _mm256_loadu_pd(src + stride);
  const __m256d r2 = _mm256_loadu_pd(src + 2 * stride), r3 = _mm256_loadu_pd(src + 3 * stride);
  const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
  const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
  _mm256_storeu_pd(dst, _mm256_permute2f128_pd(t0, t2, 0x20));
  _mm256_storeu_pd(dst + dst_stride, _mm256_permute2f128_pd(t1, t3, 0x20));
  _mm256_storeu_pd(dst + 2 * dst_stride, _mm256_permute2f128_pd(t0, t2, 0x31));
  _mm256_storeu_pd(dst + 3 * dst_stride, _mm256_permute2f128_pd(t1, t3, 0x31));
}

// The in-register transpose a vector type offers the packers: a TB×TB block.
struct TransposeF32 {
  static constexpr int TB = 8;
  static XCLIP_GEMM_INLINE void transpose(const float* s, int64_t ss, float* d, int64_t ds) {
    transpose_8x8(s, ss, d, ds);
  }
};
struct TransposeF64 {
  static constexpr int TB = 4;
  static XCLIP_GEMM_INLINE void transpose(const double* s, int64_t ss, double* d, int64_t ds) {
    transpose_4x4(s, ss, d, ds);
  }
};

struct F32x8 : TransposeF32 {
  using T = float;
  using reg = __m256;
  static constexpr int W = 8;
  static XCLIP_GEMM_INLINE reg zero() { return _mm256_setzero_ps(); }
  static XCLIP_GEMM_INLINE reg load(const T* p) { return _mm256_loadu_ps(p); }
  static XCLIP_GEMM_INLINE void store(T* p, reg v) { _mm256_storeu_ps(p, v); }
  static XCLIP_GEMM_INLINE reg bcast(const T* p) { return _mm256_broadcast_ss(p); }
  static XCLIP_GEMM_INLINE reg set1(T x) { return _mm256_set1_ps(x); }
  static XCLIP_GEMM_INLINE reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static XCLIP_GEMM_INLINE reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static XCLIP_GEMM_INLINE T fma1(T a, T b, T c) { return __builtin_fmaf(a, b, c); }
};

struct F64x4 : TransposeF64 {
  using T = double;
  using reg = __m256d;
  static constexpr int W = 4;
  static XCLIP_GEMM_INLINE reg zero() { return _mm256_setzero_pd(); }
  static XCLIP_GEMM_INLINE reg load(const T* p) { return _mm256_loadu_pd(p); }
  static XCLIP_GEMM_INLINE void store(T* p, reg v) { _mm256_storeu_pd(p, v); }
  static XCLIP_GEMM_INLINE reg bcast(const T* p) { return _mm256_broadcast_sd(p); }
  static XCLIP_GEMM_INLINE reg set1(T x) { return _mm256_set1_pd(x); }
  static XCLIP_GEMM_INLINE reg fma(reg a, reg b, reg c) { return _mm256_fmadd_pd(a, b, c); }
  static XCLIP_GEMM_INLINE reg mul(reg a, reg b) { return _mm256_mul_pd(a, b); }
  static XCLIP_GEMM_INLINE T fma1(T a, T b, T c) { return __builtin_fma(a, b, c); }
};

}  // namespace
}  // namespace xclip::cpu::gemm_detail
