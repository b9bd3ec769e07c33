// Byte-level tensor layout helpers of the io layer (dtype-agnostic: elements are copied as bytes).
#pragma once
#include <cstdint>
#include <vector>

#include "xclip/core/tensor.hpp"

namespace xclip::io::detail {

// True when `strides` (in elements) are the row-major strides of `shape` (size-1 dims ignored).
bool is_contiguous(const Shape& shape, const std::vector<int64_t>& strides);
// Index one past the last element a strided view touches (0 for an empty view), or -1 on overflow.
int64_t strided_extent(const Shape& shape, const std::vector<int64_t>& strides, int64_t offset);
// A new contiguous tensor holding the strided view (element offset `offset`) of `base`.
Tensor gather_strided(const uint8_t* base, DType dtype, const Shape& shape, const std::vector<int64_t>& strides,
                      int64_t offset);
Tensor transpose_2d(const Tensor& t);
Tensor concat_dim0(const std::vector<Tensor>& parts);  // same dtype and trailing dims
Tensor slice_dim0(const Tensor& t, int64_t begin, int64_t end);  // a contiguous copy of rows

}  // namespace xclip::io::detail
