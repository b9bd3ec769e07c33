#include "xclip/core/checked.hpp"

#include <sstream>

#include "xclip/core/error.hpp"

namespace xclip {

uint64_t checked_mul(uint64_t a, uint64_t b, std::string_view what) {
  uint64_t r = 0;
  XCLIP_CHECK(!__builtin_mul_overflow(a, b, &r), what, ": ", a, " x ", b, " overflows 64 bits");
  return r;
}

uint64_t checked_add(uint64_t a, uint64_t b, std::string_view what) {
  uint64_t r = 0;
  XCLIP_CHECK(!__builtin_add_overflow(a, b, &r), what, ": ", a, " + ", b, " overflows 64 bits");
  return r;
}

namespace {
std::string dims_text(std::span<const int64_t> dims) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < dims.size(); ++i) os << (i ? ", " : "") << dims[i];
  os << ']';
  return os.str();
}
}  // namespace

int64_t checked_numel(std::span<const int64_t> dims, std::string_view what) {
  for (int64_t d : dims) {
    XCLIP_CHECK(d >= 0, what, ": negative dimension ", d, " in ", dims_text(dims));
    if (d == 0) return 0;  // an empty tensor, however large the other dimensions claim to be
  }
  int64_t n = 1;
  for (int64_t d : dims)
    XCLIP_CHECK(!__builtin_mul_overflow(n, d, &n), what, ": the element count of shape ", dims_text(dims),
                " overflows 64 bits");
  return n;
}

uint64_t checked_nbytes(uint64_t numel, uint64_t item_size, std::string_view what) {
  uint64_t bytes = 0;
  XCLIP_CHECK(!__builtin_mul_overflow(numel, item_size, &bytes) && bytes <= kMaxTensorBytes, what, ": ", numel,
              " elements of ", item_size, " bytes are more than the ", kMaxTensorBytes >> 30,
              " GiB a tensor may have (a corrupt size?)");
  return bytes;
}

void check_span(uint64_t offset, uint64_t length, uint64_t size, std::string_view what) {
  XCLIP_CHECK(offset <= size && length <= size - offset, what, ": bytes [", offset, ", ", offset, " + ", length,
              ") lie outside the ", size, " bytes available (truncated or corrupt?)");
}

int64_t check_in_range(int64_t value, int64_t lo, int64_t hi, std::string_view key) {
  XCLIP_CHECK(value >= lo && value <= hi, key, " must be in [", lo, ", ", hi, "], got ", value);
  return value;
}

}  // namespace xclip
