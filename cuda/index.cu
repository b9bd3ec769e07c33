// Indexing kernels on the GPU: row lookup (embeddings, EOT gather) and gather along an axis,
// with their adjoints. Twins of src/kernels/index.cpp. Forward kernels check every index on the
// device and the host turns a reported bad index into the same xclip::Error as the CPU.
#include "common.cuh"

namespace xclip::cuda {

namespace {
using detail::global_index;
using detail::global_stride;
using detail::grid_for;
using detail::IndexErrorFlag;
using detail::IndexErrorRecord;
using detail::kThreads;
using detail::widest_word;
using detail::WordOf;

// out row i = table row index[i], moved in words of W; a row with a bad index is reported and skipped.
template <class W>
__global__ void index_rows_kernel(const W* table, int64_t rows, int64_t row_words, const int64_t* index,
                                  int64_t count, W* out, IndexErrorRecord* err) {
  for (int64_t t = global_index(); t < count * row_words; t += global_stride()) {
    const int64_t i = t / row_words, w = t - i * row_words;
    const int64_t r = index[i];
    if (r < 0 || r >= rows) {
      if (w == 0) detail::report_bad_index(err, r);
      continue;
    }
    out[i * row_words + w] = table[r * row_words + w];
  }
}

template <int Bytes>
void launch_index_rows(const void* table, int64_t rows, int64_t row_bytes, const int64_t* index, int64_t count,
                       void* out, IndexErrorRecord* err) {
  using W = typename WordOf<Bytes>::type;
  const int64_t row_words = row_bytes / Bytes;
  index_rows_kernel<W><<<grid_for(count * row_words), kThreads, 0, cuda_stream()>>>(
      static_cast<const W*>(table), rows, row_words, index, count, static_cast<W*>(out), err);
  XCLIP_CUDA_LAUNCH_CHECK();
}

template <class T>
__global__ void index_rows_backward_kernel(const T* gout, const int64_t* index, int64_t count, int64_t row_len,
                                           T* gtable) {
  for (int64_t t = global_index(); t < count * row_len; t += global_stride()) {
    const int64_t i = t / row_len, j = t - i * row_len;
    atomicAdd(gtable + index[i] * row_len + j, gout[t]);
  }
}

template <class T>
__global__ void gather_axis_kernel(const T* x, const int64_t* index, T* out, int64_t outer, int64_t n, int64_t m,
                                   int64_t inner, IndexErrorRecord* err) {
  for (int64_t t = global_index(); t < outer * m * inner; t += global_stride()) {
    const int64_t i = t % inner, o = t / (m * inner);
    const int64_t j = index[t];
    if (j < 0 || j >= n) {
      detail::report_bad_index(err, j);
      continue;
    }
    out[t] = x[(o * n + j) * inner + i];
  }
}

template <class T>
__global__ void gather_axis_backward_kernel(const T* gout, const int64_t* index, T* gx, int64_t outer, int64_t n,
                                            int64_t m, int64_t inner) {
  for (int64_t t = global_index(); t < outer * m * inner; t += global_stride()) {
    const int64_t i = t % inner, o = t / (m * inner);
    const int64_t j = index[t];
    if (j >= 0 && j < n) atomicAdd(gx + (o * n + j) * inner + i, gout[t]);
  }
}

void check_gather_sizes(const char* who, int64_t outer, int64_t n, int64_t m, int64_t inner) {
  XCLIP_CHECK(outer >= 0 && n >= 0 && m >= 0 && inner >= 0, who, ": negative size outer=", outer, " n=", n, " m=", m,
              " inner=", inner);
}

}  // namespace

void index_rows(const void* table, int64_t rows, int64_t row_bytes, const int64_t* index, int64_t count, void* out) {
  XCLIP_CHECK(rows >= 0 && row_bytes >= 0 && count >= 0, "cuda::index_rows: bad sizes rows=", rows,
              " row_bytes=", row_bytes, " count=", count);
  if (count == 0 || row_bytes == 0) return;
  IndexErrorFlag flag;
  switch (widest_word({uint64_t(row_bytes), uint64_t(uintptr_t(table)), uint64_t(uintptr_t(out))})) {
    case 16: launch_index_rows<16>(table, rows, row_bytes, index, count, out, flag.device()); break;
    case 8: launch_index_rows<8>(table, rows, row_bytes, index, count, out, flag.device()); break;
    case 4: launch_index_rows<4>(table, rows, row_bytes, index, count, out, flag.device()); break;
    case 2: launch_index_rows<2>(table, rows, row_bytes, index, count, out, flag.device()); break;
    default: launch_index_rows<1>(table, rows, row_bytes, index, count, out, flag.device()); break;
  }
  int64_t bad = 0;
  XCLIP_CHECK(!flag.failed(&bad), "index_select: index ", bad, " out of range for ", rows, " rows");
}

template <class T>
void index_rows_backward(const T* gout, const int64_t* index, int64_t count, int64_t row_len, T* gtable) {
  XCLIP_CHECK(count >= 0 && row_len >= 0, "cuda::index_rows_backward: bad sizes count=", count, " row_len=",
              row_len);
  if (count == 0 || row_len == 0) return;
  index_rows_backward_kernel<T><<<grid_for(count * row_len), kThreads, 0, cuda_stream()>>>(gout, index, count,
                                                                                           row_len, gtable);
  XCLIP_CUDA_LAUNCH_CHECK();
}

template <class T>
void gather_axis(const T* x, const int64_t* index, T* out, int64_t outer, int64_t n, int64_t m, int64_t inner) {
  check_gather_sizes("cuda::gather_axis", outer, n, m, inner);
  const int64_t total = outer * m * inner;
  if (total == 0) return;
  IndexErrorFlag flag;
  gather_axis_kernel<T><<<grid_for(total), kThreads, 0, cuda_stream()>>>(x, index, out, outer, n, m, inner,
                                                                         flag.device());
  XCLIP_CUDA_LAUNCH_CHECK();
  int64_t bad = 0;
  XCLIP_CHECK(!flag.failed(&bad), "gather: index ", bad, " out of range for axis of size ", n);
}

template <class T>
void gather_axis_backward(const T* gout, const int64_t* index, T* gx, int64_t outer, int64_t n, int64_t m,
                          int64_t inner) {
  check_gather_sizes("cuda::gather_axis_backward", outer, n, m, inner);
  const int64_t total = outer * m * inner;
  if (total == 0) return;
  gather_axis_backward_kernel<T><<<grid_for(total), kThreads, 0, cuda_stream()>>>(gout, index, gx, outer, n, m,
                                                                                  inner);
  XCLIP_CUDA_LAUNCH_CHECK();
}

#define XCLIP_INSTANTIATE(T)                                                                         \
  template void index_rows_backward<T>(const T*, const int64_t*, int64_t, int64_t, T*);               \
  template void gather_axis<T>(const T*, const int64_t*, T*, int64_t, int64_t, int64_t, int64_t);      \
  template void gather_axis_backward<T>(const T*, const int64_t*, T*, int64_t, int64_t, int64_t, int64_t);
XCLIP_INSTANTIATE(float)
XCLIP_INSTANTIATE(double)
#undef XCLIP_INSTANTIATE

}  // namespace xclip::cuda
