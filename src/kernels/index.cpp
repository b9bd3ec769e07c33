// Indexing kernels: row lookup (embeddings, EOT gather) and gather along an axis, with adjoints.
#include <cstring>

#include "xclip/core/error.hpp"
#include "xclip/kernels/cpu.hpp"

namespace xclip::cpu {

void index_rows(const void* table, int64_t rows, int64_t row_bytes, const int64_t* index, int64_t count, void* out) {
  for (int64_t i = 0; i < count; ++i) {
    const int64_t r = index[i];
    XCLIP_CHECK(r >= 0 && r < rows, "index_select: index ", r, " out of range for ", rows, " rows");
    std::memcpy(static_cast<char*>(out) + i * row_bytes, static_cast<const char*>(table) + r * row_bytes,
                size_t(row_bytes));
  }
}

template <class T>
void index_rows_backward(const T* gout, const int64_t* index, int64_t count, int64_t row_len, T* gtable) {
  for (int64_t i = 0; i < count; ++i) {
    T* dst = gtable + index[i] * row_len;
    const T* src = gout + i * row_len;
    for (int64_t j = 0; j < row_len; ++j) dst[j] += src[j];
  }
}

template <class T>
void gather_axis(const T* x, const int64_t* index, T* out, int64_t outer, int64_t n, int64_t m, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < m; ++k)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t j = index[(o * m + k) * inner + i];
        XCLIP_CHECK(j >= 0 && j < n, "gather: index ", j, " out of range for axis of size ", n);
        out[(o * m + k) * inner + i] = x[(o * n + j) * inner + i];
      }
}

template <class T>
void gather_axis_backward(const T* gout, const int64_t* index, T* gx, int64_t outer, int64_t n, int64_t m,
                          int64_t inner) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < m; ++k)
      for (int64_t i = 0; i < inner; ++i)
        gx[(o * n + index[(o * m + k) * inner + i]) * inner + i] += gout[(o * m + k) * inner + i];
}

#define XCLIP_INSTANTIATE(T)                                                                         \
  template void index_rows_backward<T>(const T*, const int64_t*, int64_t, int64_t, T*);               \
  template void gather_axis<T>(const T*, const int64_t*, T*, int64_t, int64_t, int64_t, int64_t);      \
  template void gather_axis_backward<T>(const T*, const int64_t*, T*, int64_t, int64_t, int64_t, int64_t);
XCLIP_INSTANTIATE(float)
XCLIP_INSTANTIATE(double)
#undef XCLIP_INSTANTIATE

}  // namespace xclip::cpu
