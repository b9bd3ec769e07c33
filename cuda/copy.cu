// Data movement on the GPU for any element size: permutes and axis blocks (concat / narrow).
// Twins of src/kernels/copy.cpp. Bytes move in the widest word the addresses and sizes allow.
#include "strided.cuh"

namespace xclip::cuda {

namespace {
using detail::global_index;
using detail::global_stride;
using detail::grid_for;
using detail::kThreads;
using detail::StridedSpace;
using detail::widest_word;
using detail::WordOf;

// ---- permute --------------------------------------------------------------------------------------
// y (contiguous) walks `space`; operand 0 of the space gives the source offset in words.
template <class W>
__global__ void gather_words_kernel(const W* x, W* y, StridedSpace space, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) y[i] = x[detail::space_offset(space, 0, i)];
}

template <int Bytes>
void launch_gather_words(const void* x, void* y, const StridedSpace& space, int64_t n) {
  using W = typename WordOf<Bytes>::type;
  gather_words_kernel<W><<<grid_for(n), kThreads, 0, cuda_stream()>>>(static_cast<const W*>(x), static_cast<W*>(y),
                                                                       space, n);
  XCLIP_CUDA_LAUNCH_CHECK();
}

// ---- row blocks ----------------------------------------------------------------------------------------
// `rows` rows of `row_words` words from src (pitch src_pitch words) to dst (pitch dst_pitch words).
template <class W>
__global__ void copy_rows_kernel(const W* src, int64_t src_pitch, W* dst, int64_t dst_pitch, int64_t rows,
                                 int64_t row_words) {
  for (int64_t t = global_index(); t < rows * row_words; t += global_stride()) {
    const int64_t r = t / row_words, w = t - r * row_words;
    dst[r * dst_pitch + w] = src[r * src_pitch + w];
  }
}

template <int Bytes>
void launch_copy_rows(const void* src, int64_t src_pitch, void* dst, int64_t dst_pitch, int64_t rows,
                      int64_t row_bytes) {
  using W = typename WordOf<Bytes>::type;
  const int64_t row_words = row_bytes / Bytes;
  copy_rows_kernel<W><<<grid_for(rows * row_words), kThreads, 0, cuda_stream()>>>(
      static_cast<const W*>(src), src_pitch / Bytes, static_cast<W*>(dst), dst_pitch / Bytes, rows, row_words);
  XCLIP_CUDA_LAUNCH_CHECK();
}

// Pitches and row sizes in bytes.
void copy_rows(const void* src, int64_t src_pitch, void* dst, int64_t dst_pitch, int64_t rows, int64_t row_bytes) {
  if (rows == 0 || row_bytes == 0) return;
  switch (widest_word({uint64_t(src_pitch), uint64_t(dst_pitch), uint64_t(row_bytes), uint64_t(uintptr_t(src)),
                       uint64_t(uintptr_t(dst))})) {
    case 16: return launch_copy_rows<16>(src, src_pitch, dst, dst_pitch, rows, row_bytes);
    case 8: return launch_copy_rows<8>(src, src_pitch, dst, dst_pitch, rows, row_bytes);
    case 4: return launch_copy_rows<4>(src, src_pitch, dst, dst_pitch, rows, row_bytes);
    case 2: return launch_copy_rows<2>(src, src_pitch, dst, dst_pitch, rows, row_bytes);
    default: return launch_copy_rows<1>(src, src_pitch, dst, dst_pitch, rows, row_bytes);
  }
}

void check_block(const char* who, size_t es, int64_t outer, int64_t n_src, int64_t n_dst, int64_t offset,
                 int64_t inner, int64_t n_block, int64_t n_big) {
  XCLIP_CHECK(es > 0 && outer >= 0 && n_src >= 0 && n_dst >= 0 && inner >= 0, who, ": bad sizes elem_size=", es,
              " outer=", outer, " n_src=", n_src, " n_dst=", n_dst, " inner=", inner);
  XCLIP_CHECK(offset >= 0 && offset + n_block <= n_big, who, ": columns [", offset, ", ", offset + n_block,
              ") outside an axis of size ", n_big);
}

}  // namespace

void permute_copy(const void* x, void* y, size_t es, const int64_t* shape, const int* order, int ndim) {
  XCLIP_CHECK(ndim >= 0 && ndim <= 8 && es > 0, "cuda::permute_copy: ", ndim, " dims, element size ", es);
  // Elements become `es / word` words: one more innermost dim that the permutation keeps in place.
  const int word = widest_word({uint64_t(es), uint64_t(uintptr_t(x)), uint64_t(uintptr_t(y))});
  int64_t xstride[8];
  detail::contiguous_strides(shape, ndim, xstride);
  const int64_t words_per_elem = int64_t(es) / word;
  int64_t yshape[9], src_stride[9];
  int64_t n = words_per_elem;
  for (int d = 0; d < ndim; ++d) {
    XCLIP_CHECK(order[d] >= 0 && order[d] < ndim, "cuda::permute_copy: order[", d, "] = ", order[d]);
    yshape[d] = shape[order[d]];
    src_stride[d] = xstride[order[d]] * words_per_elem;
    n *= yshape[d];
  }
  yshape[ndim] = words_per_elem;
  src_stride[ndim] = 1;
  if (n == 0) return;
  const int64_t* strides[1] = {src_stride};
  const StridedSpace space = detail::make_space(yshape, ndim + 1, strides, 1);
  switch (word) {
    case 16: return launch_gather_words<16>(x, y, space, n);
    case 8: return launch_gather_words<8>(x, y, space, n);
    case 4: return launch_gather_words<4>(x, y, space, n);
    case 2: return launch_gather_words<2>(x, y, space, n);
    default: return launch_gather_words<1>(x, y, space, n);
  }
}

void copy_axis_block(const void* src, void* dst, size_t es, int64_t outer, int64_t n_src, int64_t n_dst,
                     int64_t offset, int64_t inner) {
  check_block("cuda::copy_axis_block", es, outer, n_src, n_dst, offset, inner, n_src, n_dst);
  const int64_t row = n_src * inner * int64_t(es);
  copy_rows(src, row, static_cast<char*>(dst) + offset * inner * int64_t(es), n_dst * inner * int64_t(es), outer,
            row);
}

void slice_axis_block(const void* src, void* dst, size_t es, int64_t outer, int64_t n_src, int64_t n_dst,
                      int64_t offset, int64_t inner) {
  check_block("cuda::slice_axis_block", es, outer, n_src, n_dst, offset, inner, n_dst, n_src);
  const int64_t row = n_dst * inner * int64_t(es);
  copy_rows(static_cast<const char*>(src) + offset * inner * int64_t(es), n_src * inner * int64_t(es), dst, row,
            outer, row);
}

}  // namespace xclip::cuda
