#include "xclip/core/dtype.hpp"

#include <cmath>

#include "xclip/core/error.hpp"

namespace xclip {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::bf16: return 2;
    case DType::f16: return 2;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::u8: return 1;
  }
  throw Error("dtype_size: unknown dtype");
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
  }
  return "?";
}

const char* device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

bool is_floating(DType t) {
  return t == DType::f32 || t == DType::f64 || t == DType::bf16 || t == DType::f16;
}

DType dtype_from_name(const std::string& name) {
  static const std::pair<const char*, DType> names[] = {
      {"f32", DType::f32}, {"F32", DType::f32},   {"float32", DType::f32}, {"f64", DType::f64},
      {"F64", DType::f64}, {"float64", DType::f64}, {"bf16", DType::bf16}, {"BF16", DType::bf16},
      {"f16", DType::f16}, {"F16", DType::f16},   {"float16", DType::f16}, {"i32", DType::i32},
      {"I32", DType::i32}, {"int32", DType::i32}, {"i64", DType::i64},     {"I64", DType::i64},
      {"int64", DType::i64}, {"u8", DType::u8},   {"U8", DType::u8},       {"uint8", DType::u8}};
  for (const auto& [n, t] : names)
    if (name == n) return t;
  throw Error(format("unknown dtype name '", name, "'"));
}

float f16_to_float(f16_t h) {
  const uint32_t sign = uint32_t(h.bits >> 15) << 31;
  const uint32_t exp = (h.bits >> 10) & 0x1f;
  const uint32_t mant = h.bits & 0x3ff;
  uint32_t u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: value = mant · 2^-24
      float f = std::ldexp(float(mant), -24);
      std::memcpy(&u, &f, 4);
      u |= sign;
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (mant << 13);
  } else {
    u = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

f16_t float_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return f16_t{uint16_t(sign | 0x7e00)};  // NaN
  if (abs >= 0x477ff000u) return f16_t{uint16_t(sign | 0x7c00)};  // rounds to inf (>= 65520)
  if (abs < 0x38800000u) {  // below the smallest normal 2^-14: subnormal or zero
    // value / 2^-24 rounded to nearest even gives the subnormal mantissa.
    float a;
    std::memcpy(&a, &abs, 4);
    float scaled = a * 16777216.0f;  // exact (power of two)
    float r = std::nearbyint(scaled);  // default rounding mode: to nearest even
    return f16_t{uint16_t(sign | uint16_t(r))};
  }
  // normal: re-bias the exponent, round the 23-bit mantissa to 10 bits (nearest even)
  uint32_t v = abs - (112u << 23);
  v += 0xfffu + ((v >> 13) & 1u);
  return f16_t{uint16_t(sign | uint16_t(v >> 13))};
}

}  // namespace xclip
