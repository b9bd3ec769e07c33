// Data movement for any element size: permutes and axis blocks (concat / narrow).
#include <cstring>

#include "xclip/kernels/cpu.hpp"

namespace xclip::cpu {

void permute_copy(const void* x, void* y, size_t es, const int64_t* shape, const int* order, int ndim) {
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) n *= shape[d];
  if (n == 0) return;
  // Strides of x, then walk y in order, reading x at the permuted offset.
  int64_t xstride[8], yshape[8], src_stride[8];
  int64_t s = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    xstride[d] = s;
    s *= shape[d];
  }
  for (int d = 0; d < ndim; ++d) {
    yshape[d] = shape[order[d]];
    src_stride[d] = xstride[order[d]];
  }
  const char* xs = static_cast<const char*>(x);
  char* ys = static_cast<char*>(y);
  const int64_t inner = ndim ? yshape[ndim - 1] : 1;
  const int64_t inner_stride = ndim ? src_stride[ndim - 1] : 1;
  const int64_t rows = n / inner;
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    int64_t off = 0, rem = r;
    for (int d = ndim - 2; d >= 0; --d) {
      const int64_t q = rem / yshape[d];
      off += (rem - q * yshape[d]) * src_stride[d];
      rem = q;
    }
    char* dst = ys + size_t(r * inner) * es;
    if (inner_stride == 1) {
      std::memcpy(dst, xs + size_t(off) * es, size_t(inner) * es);
    } else {
      for (int64_t j = 0; j < inner; ++j)
        std::memcpy(dst + size_t(j) * es, xs + size_t(off + j * inner_stride) * es, es);
    }
  }
}

void copy_axis_block(const void* src, void* dst, size_t es, int64_t outer, int64_t n_src, int64_t n_dst,
                     int64_t offset, int64_t inner) {
  const size_t block = size_t(n_src * inner) * es;
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(static_cast<char*>(dst) + size_t((o * n_dst + offset) * inner) * es,
                static_cast<const char*>(src) + size_t(o) * block, block);
}

void slice_axis_block(const void* src, void* dst, size_t es, int64_t outer, int64_t n_src, int64_t n_dst,
                      int64_t offset, int64_t inner) {
  const size_t block = size_t(n_dst * inner) * es;
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(static_cast<char*>(dst) + size_t(o) * block,
                static_cast<const char*>(src) + size_t((o * n_src + offset) * inner) * es, block);
}

}  // namespace xclip::cpu
