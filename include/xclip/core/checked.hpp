// Checked sizes: the one place where a count, a shape or an offset read from a file becomes a
// byte count or a range. A hostile file can claim any number; every reader (npy, safetensors,
// zip, pickle, torch checkpoints, configs) passes such numbers through these functions, which
// throw xclip::Error naming `what` instead of wrapping around and reading past a buffer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace xclip {

// The largest tensor any reader will allocate or map: 2^40 bytes (1 TiB). Far above any real
// checkpoint, far below where int64 element offsets or size_t byte counts could wrap.
inline constexpr uint64_t kMaxTensorBytes = uint64_t(1) << 40;

// a * b for non-negative counts; throws "<what>: <a> x <b> overflows" when it does not fit.
uint64_t checked_mul(uint64_t a, uint64_t b, std::string_view what);
// a + b for offsets; throws "<what>: <a> + <b> overflows".
uint64_t checked_add(uint64_t a, uint64_t b, std::string_view what);

// The product of `dims` (each >= 0; 0 when any is 0, whatever the others), or an error naming
// `what` and the dimensions when it does not fit in int64.
int64_t checked_numel(std::span<const int64_t> dims, std::string_view what);

// numel x item_size as a byte count, or an error when it overflows or passes kMaxTensorBytes.
uint64_t checked_nbytes(uint64_t numel, uint64_t item_size, std::string_view what);

// Throws "<what>: bytes [offset, offset + length) lie outside the <size> bytes available" unless
// the whole range lies inside [0, size) (no overflow in offset + length).
void check_span(uint64_t offset, uint64_t length, uint64_t size, std::string_view what);

// A value that sizes a model (a width, a layer count, frames, words) from a config file: throws
// "<key> must be in [lo, hi], got <v>" so a typo or a hostile file cannot allocate terabytes.
int64_t check_in_range(int64_t value, int64_t lo, int64_t hi, std::string_view key);

}  // namespace xclip
