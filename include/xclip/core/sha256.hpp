// SHA-256 (FIPS 180-4), for recognising known files (the CLIP vocabulary) by content. Not for
// anything secret: no constant-time guarantees are needed or given.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace xclip {

class Sha256 {
 public:
  Sha256();
  void update(std::string_view bytes);
  std::array<uint8_t, 32> digest();  // finishes; update() after it is a programming error
  std::string hex_digest();          // 64 lower-case hex digits

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
  bool finished_ = false;
};

// The hex digest of `bytes` in one call.
std::string sha256_hex(std::string_view bytes);

}  // namespace xclip
