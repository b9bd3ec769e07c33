// Helpers shared by the io tests: fixture paths, expected-value files, byte comparisons.
#pragma once
#include <catch2/catch.hpp>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_util.hpp"
#include "xclip/io/json_file.hpp"
#include "xclip/io/safetensors.hpp"

namespace xclip::test {

inline std::string io_fixture(const std::string& name) {
  return (source_root() / "tests/fixtures/io" / name).string();
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::string s = read_file(path);
  return {s.begin(), s.end()};
}

// torch dtype names as the fixture script writes them -> ours (bool is stored as u8).
inline DType dtype_from_torch(const std::string& name) {
  if (name == "float32") return DType::f32;
  if (name == "float16") return DType::f16;
  if (name == "bfloat16") return DType::bf16;
  if (name == "float64") return DType::f64;
  if (name == "int64") return DType::i64;
  if (name == "int32") return DType::i32;
  if (name == "uint8" || name == "bool") return DType::u8;
  FAIL("unknown torch dtype " << name);
  return DType::f32;
}

inline uint32_t crc_of(const Tensor& t) {
  uLong c = crc32(0L, Z_NULL, 0);
  const auto* p = static_cast<const Bytef*>(t.raw_data());
  for (size_t pos = 0; pos < t.nbytes(); pos += size_t(1) << 30)
    c = crc32(c, p + pos, uInt(std::min(t.nbytes() - pos, size_t(1) << 30)));
  return uint32_t(c);
}

// Checks dtype, shape and CRC-32 of `t` against a record {"dtype", "shape", "crc32"}.
inline void check_record(const std::string& name, const Tensor& t, const nlohmann::json& record) {
  INFO("tensor " << name);
  CHECK(t.dtype() == dtype_from_torch(record["dtype"]));
  CHECK(t.shape().vec() == record["shape"].get<std::vector<int64_t>>());
  CHECK(crc_of(t) == record["crc32"].get<uint32_t>());
}

inline bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

}  // namespace xclip::test
