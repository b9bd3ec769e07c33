// GEMM micro-kernels and packing compiled for AVX-512 (selected at run time by gemm.cpp).
// f32: 14×32 register tiles (28 zmm accumulators; 12×32 and 8×32 for short products), f64: 14×16 etc.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "gemm_kernel.hpp"

// GCC's pragma; clang ignores it and takes the same target as an attribute on every function.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,bmi,bmi2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,bmi,bmi2")
#endif

#include "gemm_x86.hpp"

namespace xclip::cpu::gemm_detail {
namespace {

struct F32x16 : TransposeF32 {
  using T = float;
  using reg = __m512;
  static constexpr int W = 16;
  static XCLIP_GEMM_INLINE reg zero() { return _mm512_setzero_ps(); }
  static XCLIP_GEMM_INLINE reg load(const T* p) { return _mm512_loadu_ps(p); }
  static XCLIP_GEMM_INLINE void store(T* p, reg v) { _mm512_storeu_ps(p, v); }
  static XCLIP_GEMM_INLINE reg bcast(const T* p) { return _mm512_set1_ps(*p); }
  static XCLIP_GEMM_INLINE reg set1(T x) { return _mm512_set1_ps(x); }
  static XCLIP_GEMM_INLINE reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static XCLIP_GEMM_INLINE reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static XCLIP_GEMM_INLINE T fma1(T a, T b, T c) { return __builtin_fmaf(a, b, c); }
};

struct F64x8 : TransposeF64 {
  using T = double;
  using reg = __m512d;
  static constexpr int W = 8;
  static XCLIP_GEMM_INLINE reg zero() { return _mm512_setzero_pd(); }
  static XCLIP_GEMM_INLINE reg load(const T* p) { return _mm512_loadu_pd(p); }
  static XCLIP_GEMM_INLINE void store(T* p, reg v) { _mm512_storeu_pd(p, v); }
  static XCLIP_GEMM_INLINE reg bcast(const T* p) { return _mm512_set1_pd(*p); }
  static XCLIP_GEMM_INLINE reg set1(T x) { return _mm512_set1_pd(x); }
  static XCLIP_GEMM_INLINE reg fma(reg a, reg b, reg c) { return _mm512_fmadd_pd(a, b, c); }
  static XCLIP_GEMM_INLINE reg mul(reg a, reg b) { return _mm512_mul_pd(a, b); }
  static XCLIP_GEMM_INLINE T fma1(T a, T b, T c) { return __builtin_fma(a, b, c); }
};

}  // namespace
}  // namespace xclip::cpu::gemm_detail

#include "gemm_tile.hpp"

namespace xclip::cpu::gemm_detail {
namespace {
constexpr GemmKernel<float> kF32[] = {make_kernel<F32x16, 14, 2>("avx512", 1.00, 168, 256, 4096),
                                      make_kernel<F32x16, 12, 2>("avx512", 1.01, 168, 256, 4096),
                                      make_kernel<F32x16, 8, 2>("avx512", 1.03, 168, 256, 4096)};
constexpr GemmKernel<double> kF64[] = {make_kernel<F64x8, 14, 2>("avx512", 1.00, 112, 256, 2048),
                                       make_kernel<F64x8, 12, 2>("avx512", 1.01, 112, 256, 2048),
                                       make_kernel<F64x8, 8, 2>("avx512", 1.03, 112, 256, 2048)};
}  // namespace
}  // namespace xclip::cpu::gemm_detail

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace xclip::cpu::gemm_detail {
GemmKernelFamily<float> avx512_kernels_f32() { return {kF32, 3}; }
GemmKernelFamily<double> avx512_kernels_f64() { return {kF64, 3}; }
}  // namespace xclip::cpu::gemm_detail

#else  // not x86: the variant does not exist and cpu_supports() never selects it

#include "gemm_kernel.hpp"

namespace xclip::cpu::gemm_detail {
GemmKernelFamily<float> avx512_kernels_f32() { return generic_kernels_f32(); }
GemmKernelFamily<double> avx512_kernels_f64() { return generic_kernels_f64(); }
}  // namespace xclip::cpu::gemm_detail

#endif
