// GEMM micro-kernels and packing compiled for AVX2 + FMA (selected at run time by gemm.cpp).
// f32: 6×16 register tile (12 ymm accumulators), f64: 6×8.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "gemm_kernel.hpp"

#pragma GCC push_options
#pragma GCC target("avx2,fma,bmi,bmi2")

#include "gemm_x86.hpp"
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

#else  // not x86: the variant does not exist and cpu_supports() never selects it

#include "gemm_kernel.hpp"

namespace xclip::cpu::gemm_detail {
const GemmKernel<float>& avx2_kernel_f32() { return generic_kernel_f32(); }
const GemmKernel<double>& avx2_kernel_f64() { return generic_kernel_f64(); }
}  // namespace xclip::cpu::gemm_detail

#endif
