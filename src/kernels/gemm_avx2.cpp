// GEMM micro-kernels and packing compiled for AVX2 + FMA (selected at run time by gemm.cpp).
// f32: 6×16 register tiles (12 ymm accumulators; 4×16 for short products), f64: 6×8 and 4×8.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "gemm_kernel.hpp"

// GCC's pragma; clang ignores it and takes the same target as an attribute on every function.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,bmi,bmi2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,bmi,bmi2")
#endif

#include "gemm_x86.hpp"
#include "gemm_tile.hpp"

namespace xclip::cpu::gemm_detail {
namespace {
constexpr GemmKernel<float> kF32[] = {make_kernel<F32x8, 6, 2>("avx2", 1.00, 144, 256, 4096),
                                      make_kernel<F32x8, 4, 2>("avx2", 1.05, 144, 256, 4096)};
constexpr GemmKernel<double> kF64[] = {make_kernel<F64x4, 6, 2>("avx2", 1.00, 96, 256, 2048),
                                       make_kernel<F64x4, 4, 2>("avx2", 1.05, 96, 256, 2048)};
}  // namespace
}  // namespace xclip::cpu::gemm_detail

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace xclip::cpu::gemm_detail {
GemmKernelFamily<float> avx2_kernels_f32() { return {kF32, 2}; }
GemmKernelFamily<double> avx2_kernels_f64() { return {kF64, 2}; }
}  // namespace xclip::cpu::gemm_detail

#else  // not x86: the variant does not exist and cpu_supports() never selects it

#include "gemm_kernel.hpp"

namespace xclip::cpu::gemm_detail {
GemmKernelFamily<float> avx2_kernels_f32() { return generic_kernels_f32(); }
GemmKernelFamily<double> avx2_kernels_f64() { return generic_kernels_f64(); }
}  // namespace xclip::cpu::gemm_detail

#endif
