// Strided layouts for the elementwise, reduction and permute kernels: up to kMaxDims dims, passed to
// kernels by value, with size-1 dims dropped and mergeable neighbours merged on the host so the
// common cases reach the device as 1-3 dims.
#pragma once
#include <cstdint>

#include "common.cuh"

namespace xclip::cuda::detail {

constexpr int kMaxDims = 10;  // 8 for the callers, + room for permute_copy's byte dim

// A row-major index space `shape` walked by up to 2 strided operands.
struct StridedSpace {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride[2][kMaxDims] = {};
  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= shape[d];
    return n;
  }
};

// Builds the space for `operands` (1 or 2) stride arrays over `shape`, dropping size-1 dims and
// merging dim d into d+1 when every operand steps through them as one (stride[d] ==
// stride[d+1]·shape[d+1], which includes both being 0).
inline StridedSpace make_space(const int64_t* shape, int ndim, const int64_t* const* strides, int operands) {
  XCLIP_CHECK(ndim >= 0 && ndim <= kMaxDims, "cuda: ", ndim, " dims (at most ", kMaxDims, ")");
  StridedSpace s;
  for (int d = 0; d < ndim; ++d) {
    XCLIP_CHECK(shape[d] >= 0, "cuda: negative dimension ", shape[d]);
    if (shape[d] == 1) continue;
    const int k = s.ndim++;
    s.shape[k] = shape[d];
    for (int o = 0; o < operands; ++o) s.stride[o][k] = strides[o][d];
  }
  // Walk from the outermost dim inwards; m's last dim is the outer neighbour of dim d.
  StridedSpace m;
  for (int d = 0; d < s.ndim; ++d) {
    bool mergeable = m.ndim > 0;
    for (int o = 0; o < operands && mergeable; ++o)
      mergeable = m.stride[o][m.ndim - 1] == s.stride[o][d] * s.shape[d];
    if (mergeable) {
      // The previous (outer) dim and this one become one dim with this dim's strides.
      m.shape[m.ndim - 1] *= s.shape[d];
      for (int o = 0; o < operands; ++o) m.stride[o][m.ndim - 1] = s.stride[o][d];
    } else {
      m.shape[m.ndim] = s.shape[d];
      for (int o = 0; o < operands; ++o) m.stride[o][m.ndim] = s.stride[o][d];
      m.ndim++;
    }
  }
  return m;
}

// Offset of row-major linear index i of the space for operand o.
__device__ __forceinline__ int64_t space_offset(const StridedSpace& s, int o, int64_t i) {
  int64_t off = 0;
  for (int d = s.ndim - 1; d > 0; --d) {
    const int64_t q = i / s.shape[d];
    off += (i - q * s.shape[d]) * s.stride[o][d];
    i = q;
  }
  return s.ndim > 0 ? off + i * s.stride[o][0] : 0;
}

// Contiguous row-major strides of `shape`.
inline void contiguous_strides(const int64_t* shape, int ndim, int64_t* strides) {
  int64_t s = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    strides[d] = s;
    s *= shape[d];
  }
}

// dst (operand 1 of `space`, stride 0 on the summed dims) = or += the sum of src (operand 0) over
// the dims where dst's stride is 0; accumulated in double, deterministic (fixed order, no atomics).
// The nonzero dst strides must address distinct elements. Defined in cuda/strided_sum.cu.
template <class T>
void strided_sum(const T* src, T* dst, const StridedSpace& space, bool accumulate);

}  // namespace xclip::cuda::detail
