#include "tensor_layout.hpp"

#include <cstring>

namespace xclip::io::detail {

bool is_contiguous(const Shape& shape, const std::vector<int64_t>& strides) {
  if (int(strides.size()) != shape.ndim()) return false;
  int64_t expected = 1;
  for (int i = shape.ndim() - 1; i >= 0; --i) {
    if (shape[i] != 1 && strides[size_t(i)] != expected) return shape.numel() == 0;
    expected *= shape[i];
  }
  return true;
}

int64_t strided_extent(const Shape& shape, const std::vector<int64_t>& strides, int64_t offset) {
  if (shape.numel() == 0) return 0;
  int64_t last = offset;
  for (int i = 0; i < shape.ndim(); ++i) {
    int64_t step = 0;
    if (strides[size_t(i)] < 0 || __builtin_mul_overflow(shape[i] - 1, strides[size_t(i)], &step) ||
        __builtin_add_overflow(last, step, &last))
      return -1;
  }
  return last + 1;
}

Tensor gather_strided(const uint8_t* base, DType dtype, const Shape& shape, const std::vector<int64_t>& strides,
                      int64_t offset) {
  Tensor out = Tensor::empty(shape, dtype);
  const size_t elem = dtype_size(dtype);
  uint8_t* dst = static_cast<uint8_t*>(out.raw_data());
  const int64_t n = shape.numel();
  const int nd = shape.ndim();
  std::vector<int64_t> index(size_t(nd), 0);
  int64_t src = offset;
  for (int64_t k = 0; k < n; ++k) {
    std::memcpy(dst + size_t(k) * elem, base + size_t(src) * elem, elem);
    for (int d = nd - 1; d >= 0; --d) {  // odometer increment of the multi-index
      src += strides[size_t(d)];
      if (++index[size_t(d)] < shape[d]) break;
      src -= strides[size_t(d)] * shape[d];
      index[size_t(d)] = 0;
    }
  }
  return out;
}

Tensor transpose_2d(const Tensor& t) {
  XCLIP_CHECK(t.ndim() == 2, "transpose_2d: expected a matrix, got ", t.shape().str());
  const int64_t rows = t.dim(0), cols = t.dim(1);
  return gather_strided(static_cast<const uint8_t*>(t.raw_data()), t.dtype(), Shape{cols, rows}, {1, cols}, 0);
}

Tensor concat_dim0(const std::vector<Tensor>& parts) {
  XCLIP_CHECK(!parts.empty(), "concat_dim0: nothing to concatenate");
  Shape shape = parts[0].shape();
  XCLIP_CHECK(shape.ndim() >= 1, "concat_dim0: scalars cannot be concatenated");
  int64_t rows = 0;
  for (const auto& p : parts) {
    XCLIP_CHECK(p.dtype() == parts[0].dtype() && p.ndim() == shape.ndim() &&
                    p.shape().prod(1, shape.ndim()) == shape.prod(1, shape.ndim()),
                "concat_dim0: ", p.str(), " does not match ", parts[0].str());
    rows += p.dim(0);
  }
  Tensor out = Tensor::empty(shape.with_dim(0, rows), parts[0].dtype());
  uint8_t* dst = static_cast<uint8_t*>(out.raw_data());
  for (const auto& p : parts) {
    std::memcpy(dst, p.raw_data(), p.nbytes());
    dst += p.nbytes();
  }
  return out;
}

Tensor slice_dim0(const Tensor& t, int64_t begin, int64_t end) {
  XCLIP_CHECK(t.ndim() >= 1 && 0 <= begin && begin <= end && end <= t.dim(0), "slice_dim0: rows [", begin, ", ",
              end, ") of ", t.str());
  Tensor out = Tensor::empty(t.shape().with_dim(0, end - begin), t.dtype());
  const size_t row = t.numel() == 0 ? 0 : t.nbytes() / size_t(t.dim(0));
  std::memcpy(out.raw_data(), static_cast<const uint8_t*>(t.raw_data()) + size_t(begin) * row,
              size_t(end - begin) * row);
  return out;
}

}  // namespace xclip::io::detail
