// GEMM micro-kernels and packing for any CPU: GCC vector extensions of 16 bytes (SSE2 on
// x86-64, NEON/others elsewhere), 4×8 f32 and 4×4 f64 tiles. The fallback when neither AVX2+FMA
// nor AVX-512 is available. Multiply and add stay separate (no contraction), like the scalar code.
#include <cstdint>
#include <cstring>

#include "gemm_kernel.hpp"

namespace xclip::cpu::gemm_detail {
namespace {

#define XCLIP_GEMM_INLINE inline __attribute__((always_inline))

template <class E>
struct Vec16 {
  using T = E;
  typedef E reg __attribute__((vector_size(16)));
  static constexpr int W = int(16 / sizeof(E));
  static constexpr int TB = 0;  // no in-register transpose: the packers use scalar loops
  static XCLIP_GEMM_INLINE reg zero() { return reg{}; }
  static XCLIP_GEMM_INLINE reg load(const T* p) {
    reg v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static XCLIP_GEMM_INLINE void store(T* p, reg v) { std::memcpy(p, &v, sizeof v); }
  static XCLIP_GEMM_INLINE reg set1(T x) {
    reg v;
    for (int i = 0; i < W; ++i) v[i] = x;
    return v;
  }
  static XCLIP_GEMM_INLINE reg bcast(const T* p) { return set1(*p); }
  static XCLIP_GEMM_INLINE reg fma(reg a, reg b, reg c) { return a * b + c; }
  static XCLIP_GEMM_INLINE reg mul(reg a, reg b) { return a * b; }
  static XCLIP_GEMM_INLINE T fma1(T a, T b, T c) { return a * b + c; }
};

}  // namespace
}  // namespace xclip::cpu::gemm_detail

#include "gemm_tile.hpp"

namespace xclip::cpu::gemm_detail {
namespace {
constexpr GemmKernel<float> kF32[] = {make_kernel<Vec16<float>, 4, 2>("generic", 1.00, 128, 256, 4096)};
constexpr GemmKernel<double> kF64[] = {make_kernel<Vec16<double>, 4, 2>("generic", 1.00, 128, 256, 2048)};
}  // namespace

GemmKernelFamily<float> generic_kernels_f32() { return {kF32, 1}; }
GemmKernelFamily<double> generic_kernels_f64() { return {kF64, 1}; }
}  // namespace xclip::cpu::gemm_detail
