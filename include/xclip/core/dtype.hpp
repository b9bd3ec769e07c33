// Element types and devices, and the 16-bit float conversions (round to nearest even).
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace xclip {

enum class DType : uint8_t { f32, f64, bf16, f16, i32, i64, u8 };
enum class Device : uint8_t { cpu, cuda };

size_t dtype_size(DType t);
const char* dtype_name(DType t);   // "f32", "f64", ...
const char* device_name(Device d); // "cpu", "cuda"
bool is_floating(DType t);
// Parses the names dtype_name() prints and the safetensors names ("F32", "BF16", "I64", ...).
DType dtype_from_name(const std::string& name);

// --- 16-bit floats: storage types only; arithmetic happens in f32 -------------------------
struct bf16_t { uint16_t bits; };
struct f16_t { uint16_t bits; };

inline float bf16_to_float(bf16_t h) {
  uint32_t u = uint32_t(h.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline bf16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16_t{uint16_t((u >> 16) | 0x40)};  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
  return bf16_t{uint16_t(u >> 16)};
}
float f16_to_float(f16_t h);
f16_t float_to_f16(float f);  // IEEE binary16, round to nearest even, subnormals kept

// Compile-time mapping from C++ element type to DType.
template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<bf16_t> { static constexpr DType value = DType::bf16; };
template <> struct dtype_of<f16_t> { static constexpr DType value = DType::f16; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };

}  // namespace xclip
