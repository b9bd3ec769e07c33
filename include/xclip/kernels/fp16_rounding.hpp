// The per-element arithmetic of the --official_fp16 optimizer, written once for both backends:
// src/kernels/optimizer_fp16.cpp (the CPU) and cuda/optimizer_fp16.cu (device code) include it,
// so the two run the same sequence of operations. Every operation is an IEEE f32 operation whose
// result is rounded to fp16 (round to nearest even), as one PyTorch 1.7 CUDA Half kernel computes
// it; on the device each op is an explicitly rounded intrinsic, so nothing can be contracted into
// an FMA, and the fp16 conversions are __float2half_rn / __half2float. Finite values therefore give
// the same bits on both; a NaN stays NaN (its sign and payload may differ between the two).
//
// The fp16 norm (torch.norm of an fp16 gradient) is summed exactly: the square of an fp16 value
// is an integer multiple of 2^-48 below 2^32, so Σ h² · 2^48 is an integer that an unsigned 128-bit
// accumulator holds for any tensor below 2^40 elements. An exact sum does not depend on the order
// of the additions, which is what lets a parallel reduction give the CPU's value bit for bit.
#pragma once
#include <cmath>
#include <cstdint>

#include "xclip/core/dtype.hpp"

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#define XCLIP_FP16_HD __host__ __device__ __forceinline__
#else
#define XCLIP_FP16_HD inline
#endif

namespace xclip::fp16_rounding {

__extension__ typedef unsigned __int128 u128;  // __extension__: no -Wpedantic warning

// ---- one fp16 kernel's result: an f32 operation rounded to fp16 ------------------------------------
XCLIP_FP16_HD float round_f16(float x) {
#if defined(__CUDA_ARCH__)
  return __half2float(__float2half_rn(x));
#else
  return f16_to_float(float_to_f16(x));
#endif
}
XCLIP_FP16_HD f16_t to_f16(float x) {
#if defined(__CUDA_ARCH__)
  return f16_t{__half_as_ushort(__float2half_rn(x))};
#else
  return float_to_f16(x);
#endif
}
XCLIP_FP16_HD float from_f16(f16_t h) {
#if defined(__CUDA_ARCH__)
  return __half2float(__ushort_as_half(h.bits));
#else
  return f16_to_float(h);
#endif
}
XCLIP_FP16_HD float add16(float a, float b) {
#if defined(__CUDA_ARCH__)
  return round_f16(__fadd_rn(a, b));
#else
  return round_f16(a + b);
#endif
}
XCLIP_FP16_HD float sub16(float a, float b) {
#if defined(__CUDA_ARCH__)
  return round_f16(__fsub_rn(a, b));
#else
  return round_f16(a - b);
#endif
}
XCLIP_FP16_HD float mul16(float a, float b) {
#if defined(__CUDA_ARCH__)
  return round_f16(__fmul_rn(a, b));
#else
  return round_f16(a * b);
#endif
}
XCLIP_FP16_HD float div16(float a, float b) {
#if defined(__CUDA_ARCH__)
  return round_f16(__fdiv_rn(a, b));
#else
  return round_f16(a / b);
#endif
}
XCLIP_FP16_HD float sqrt16(float a) {
#if defined(__CUDA_ARCH__)
  return round_f16(__fsqrt_rn(a));
#else
  return round_f16(std::sqrt(a));
#endif
}
// x / d in f32 (the division of an fp32 gradient), correctly rounded on both.
XCLIP_FP16_HD float div32(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

// ---- the exact fp16 sum of squares ------------------------------------------------------------------
// An exact Σ h² (in units of 2^-48) with flags for the values a fixed-point sum cannot hold.
constexpr unsigned kHasInf = 1, kHasNaN = 2;

// fp16(x)², exactly, in units of 2^-48; |fp16(x)|·2^24 is an integer below 2^40.
XCLIP_FP16_HD u128 square_units(float h) {
  const float a = h < 0 ? -h : h;
#if defined(__CUDA_ARCH__)
  const uint64_t q = uint64_t(__fmul_rn(a, 16777216.0f));  // exact: a power-of-two scale
#else
  const uint64_t q = uint64_t(a * 16777216.0f);
#endif
  return u128(q) * q;
}
// The flag a non-finite fp16 value sets (0 for a finite one, whose square square_units gives).
XCLIP_FP16_HD unsigned nonfinite_flag(float h) {
  if (h != h) return kHasNaN;
  return (h == INFINITY || h == -INFINITY) ? kHasInf : 0u;
}
// The norm of the summed squares as f32: sqrt in double of the sum (converted to double from its
// two 64-bit halves, the same roundings on both backends), then rounded to f32.
XCLIP_FP16_HD float norm_from_square_units(u128 units, unsigned flags) {
  if (flags & kHasNaN) return NAN;
  if (flags & kHasInf) return INFINITY;
  const double hi = double(uint64_t(units >> 64)), lo = double(uint64_t(units));
#if defined(__CUDA_ARCH__)
  const double sum = __dadd_rn(__dmul_rn(hi, 18446744073709551616.0), lo);  // hi·2^64 is exact
  return __double2float_rn(__dmul_rn(__dsqrt_rn(sum), 5.9604644775390625e-8));  // ·2^-24: exact
#else
  const double sum = hi * 18446744073709551616.0 + lo;
  return float(std::sqrt(sum) * 5.9604644775390625e-8);
#endif
}

// ---- the update --------------------------------------------------------------------------------------
// clip_grad_norm_(p, max_norm) of torch 1.7 on one fp16 gradient of norm `norm` (an f32 value):
// the norm is rounded to fp16 (the norm of the one-element stack is that value again), then
// total + 1e-6, max_norm / (...) = reciprocal · max_norm, each rounded; the gradient is scaled by
// the result when it is below 1. max_norm and eps are fp16 values.
XCLIP_FP16_HD float clip_coefficient(float norm, float max_norm, float eps) {
  const float total = round_f16(norm);
  const float denom = add16(total, eps);
  return mul16(div16(1.0f, denom), max_norm);
}

// The constants of one parameter's update, each already an fp16 value.
struct Fp16UpdateConstants {
  float b1, one_minus_b1, b2, one_minus_b2, e, wd, lr;
  bool decay;
};

// One element of the original's update, in its op order; every line is one kernel (one Half
// result). p, g are fp16 values held in floats.
XCLIP_FP16_HD void update_element(float& p, float g, f16_t& m16, f16_t& v16, const Fp16UpdateConstants& k) {
  float m = from_f16(m16), v = from_f16(v16);
  m = mul16(m, k.b1);                                // next_m.mul_(b1)
  m = add16(m, mul16(k.one_minus_b1, g));            // .add_(grad, alpha=1-b1): alpha·g, then the sum
  v = mul16(v, k.b2);                                // next_v.mul_(b2)
  v = add16(v, mul16(mul16(k.one_minus_b2, g), g));  // .addcmul_(g, g, value=1-b2): (value·g)·g, then +
  const float root = sqrt16(v);                      // next_v.sqrt()
  const float denom = add16(root, k.e);              // + e
  float u = div16(m, denom);                         // next_m / (...)
  if (k.decay) u = add16(u, mul16(p, k.wd));         // update += wd * p.data: wd·p, then the sum
  const float step = mul16(u, k.lr);                 // update_with_lr = lr_scheduled * update
  p = sub16(p, step);                                // p.data.add_(-update_with_lr): negation is exact
  m16 = to_f16(m);
  v16 = to_f16(v);
}

// Element i of a parameter held as fp16 values in f32 storage (param) or in f16 storage (param_f16,
// when param is null): g = fp16(grad) scaled by the clip coefficient when it is below 1 (`if
// clip_coef < 1: grad.mul_(clip_coef)`), then the update, written back in the parameter's storage.
XCLIP_FP16_HD void update_stored_element(float* param, f16_t* param_f16, int64_t i, float grad, float clip_coef,
                                         f16_t& m16, f16_t& v16, const Fp16UpdateConstants& k) {
  float g = round_f16(grad);  // the original's fp16 autograd produced the gradient in fp16
  if (clip_coef < 1) g = mul16(g, clip_coef);
  float p = param ? param[i] : from_f16(param_f16[i]);
  update_element(p, g, m16, v16, k);
  if (param)
    param[i] = p;
  else
    param_f16[i] = to_f16(p);
}

}  // namespace xclip::fp16_rounding

#undef XCLIP_FP16_HD
