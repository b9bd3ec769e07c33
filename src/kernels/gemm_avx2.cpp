// GEMM micro-kernels and packing compiled for AVX2 + FMA (selected at run time by gemm.cpp).
// f32: 6×16 register tile (12 ymm accumulators), f64: 6×8.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "gemm_kernel.hpp"

#pragma GCC push_options
#pragma GCC target("avx2,fma,bmi,bmi2")

namespace xclip::cpu::gemm_detail {
namespace {

struct F32x8 {
  using T = float;
  using reg = __m256;
  static constexpr int W = 8;
  static inline __attribute__((always_inline)) reg zero() { return _mm256_setzero_ps(); }
  static inline __attribute__((always_inline)) reg load(const T* p) { return _mm256_loadu_ps(p); }
  static inline __attribute__((always_inline)) void store(T* p, reg v) { _mm256_storeu_ps(p, v); }
  static inline __attribute__((always_inline)) reg bcast(const T* p) { return _mm256_broadcast_ss(p); }
  static inline __attribute__((always_inline)) reg set1(T x) { return _mm256_set1_ps(x); }
  static inline __attribute__((always_inline)) reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static inline __attribute__((always_inline)) reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
};

struct F64x4 {
  using T = double;
  using reg = __m256d;
  static constexpr int W = 4;
  static inline __attribute__((always_inline)) reg zero() { return _mm256_setzero_pd(); }
  static inline __attribute__((always_inline)) reg load(const T* p) { return _mm256_loadu_pd(p); }
  static inline __attribute__((always_inline)) void store(T* p, reg v) { _mm256_storeu_pd(p, v); }
  static inline __attribute__((always_inline)) reg bcast(const T* p) { return _mm256_broadcast_sd(p); }
  static inline __attribute__((always_inline)) reg set1(T x) { return _mm256_set1_pd(x); }
  static inline __attribute__((always_inline)) reg fma(reg a, reg b, reg c) { return _mm256_fmadd_pd(a, b, c); }
  static inline __attribute__((always_inline)) reg mul(reg a, reg b) { return _mm256_mul_pd(a, b); }
};

}  // namespace
}  // namespace xclip::cpu::gemm_detail

#include "gemm_tile.hpp"

namespace xclip::cpu::gemm_detail {
namespace {
constexpr GemmKernel<float> kF32 = make_kernel<F32x8, 6, 2>("avx2", 144, 256, 4096);
constexpr GemmKernel<double> kF64 = make_kernel<F64x4, 6, 2>("avx2", 96, 256, 2048);
}  // namespace
}  // namespace xclip::cpu::gemm_detail

#pragma GCC pop_options

namespace xclip::cpu::gemm_detail {
const GemmKernel<float>& avx2_kernel_f32() { return kF32; }
const GemmKernel<double>& avx2_kernel_f64() { return kF64; }
}  // namespace xclip::cpu::gemm_detail
