// Sums over the broadcast dims of a strided space: the engine behind sum_to_broadcast and
// reduce_sum. Every destination element is owned by one thread (or one warp), which adds its
// sources in a fixed order, so results are deterministic. Long reductions are split into chunks
// whose partial sums land in a scratch buffer and are added up, in chunk order, by a second kernel.
#include <algorithm>

#include "strided.cuh"

namespace xclip::cuda::detail {

namespace {

using Accum = double;

// Kept dims (operands: src, dst) and summed dims (operand: src) of one reduction.
struct SumPlan {
  StridedSpace keep;
  StridedSpace red;
  int64_t n_keep = 0, n_red = 0;
};

SumPlan make_plan(const StridedSpace& space) {
  int64_t keep_shape[kMaxDims], keep_src[kMaxDims], keep_dst[kMaxDims], red_shape[kMaxDims], red_src[kMaxDims];
  int nk = 0, nr = 0;
  for (int d = 0; d < space.ndim; ++d) {
    if (space.stride[1][d] != 0) {
      keep_shape[nk] = space.shape[d];
      keep_src[nk] = space.stride[0][d];
      keep_dst[nk++] = space.stride[1][d];
    } else {
      red_shape[nr] = space.shape[d];
      red_src[nr++] = space.stride[0][d];
    }
  }
  const int64_t* keep_strides[2] = {keep_src, keep_dst};
  const int64_t* red_strides[1] = {red_src};
  SumPlan plan;
  plan.keep = make_space(keep_shape, nk, keep_strides, 2);
  plan.red = make_space(red_shape, nr, red_strides, 1);
  plan.n_keep = plan.keep.numel();
  plan.n_red = plan.red.numel();
  return plan;
}

template <class T>
__device__ __forceinline__ void store(T* p, Accum sum, bool accumulate) {
  *p = accumulate ? T(*p + T(sum)) : T(sum);
}

// One warp per kept element; the summed dim is contiguous in src (lanes read consecutive elements).
template <class T>
__global__ void sum_contiguous_rows_kernel(const T* src, T* dst, SumPlan plan, bool accumulate) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = global_stride() / 32;
  for (int64_t k = global_index() / 32; k < plan.n_keep; k += warps) {
    const T* row = src + space_offset(plan.keep, 0, k);
    Accum sum = 0;
    for (int64_t r = lane; r < plan.n_red; r += 32) sum += Accum(row[r]);
    sum = warp_sum(sum);
    if (lane == 0) store(dst + space_offset(plan.keep, 1, k), sum, accumulate);
  }
}

// Thread per kept element (x), chunk of the summed range (y). With one chunk it writes dst;
// otherwise partial[chunk · n_keep + k].
template <class T>
__global__ void sum_chunk_kernel(const T* src, T* dst, Accum* partial, SumPlan plan, int64_t chunk_len,
                                 bool accumulate) {
  const int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= plan.n_keep) return;
  const int64_t begin = int64_t(blockIdx.y) * chunk_len;
  const int64_t end = begin + chunk_len < plan.n_red ? begin + chunk_len : plan.n_red;
  const T* base = src + space_offset(plan.keep, 0, k);
  Accum sum = 0;
  if (plan.red.ndim == 1) {
    const int64_t step = plan.red.stride[0][0];
    for (int64_t r = begin; r < end; ++r) sum += Accum(base[r * step]);
  } else {
    for (int64_t r = begin; r < end; ++r) sum += Accum(base[space_offset(plan.red, 0, r)]);
  }
  if (partial)
    partial[int64_t(blockIdx.y) * plan.n_keep + k] = sum;
  else
    store(dst + space_offset(plan.keep, 1, k), sum, accumulate);
}

template <class T>
__global__ void sum_partials_kernel(const Accum* partial, int64_t chunks, T* dst, SumPlan plan, bool accumulate) {
  for (int64_t k = global_index(); k < plan.n_keep; k += global_stride()) {
    Accum sum = 0;
    for (int64_t c = 0; c < chunks; ++c) sum += partial[c * plan.n_keep + k];
    store(dst + space_offset(plan.keep, 1, k), sum, accumulate);
  }
}

template <class T>
__global__ void fill_zero_kernel(T* dst, StridedSpace keep, int64_t n) {
  for (int64_t k = global_index(); k < n; k += global_stride()) dst[space_offset(keep, 1, k)] = T(0);
}

}  // namespace

template <class T>
void strided_sum(const T* src, T* dst, const StridedSpace& space, bool accumulate) {
  const SumPlan plan = make_plan(space);
  if (plan.n_keep == 0) return;
  cudaStream_t st = cuda_stream();
  if (plan.n_red == 0) {  // an empty sum
    if (!accumulate) {
      fill_zero_kernel<T><<<grid_for(plan.n_keep), kThreads, 0, st>>>(dst, plan.keep, plan.n_keep);
      XCLIP_CUDA_LAUNCH_CHECK();
    }
    return;
  }
  // Row sums over a contiguous dim: a warp per row keeps the reads coalesced.
  if (plan.red.ndim == 1 && plan.red.stride[0][0] == 1 && plan.n_red >= 32) {
    sum_contiguous_rows_kernel<T><<<grid_for(plan.n_keep * 32), kThreads, 0, st>>>(src, dst, plan, accumulate);
    XCLIP_CUDA_LAUNCH_CHECK();
    return;
  }
  // Otherwise a thread per kept element; split the summed range when there are too few kept
  // elements to fill the GPU (e.g. a bias gradient: 768 outputs, 10^5 rows each).
  constexpr int64_t kTargetThreads = int64_t(1) << 17, kMinChunk = 32, kMaxChunks = 4096;
  int64_t chunks = 1;
  if (plan.n_red > 2 * kMinChunk && plan.n_keep < kTargetThreads) {
    chunks = std::min({(plan.n_red + kMinChunk - 1) / kMinChunk, (kTargetThreads + plan.n_keep - 1) / plan.n_keep,
                       kMaxChunks});
  }
  const int64_t chunk_len = (plan.n_red + chunks - 1) / chunks;
  chunks = (plan.n_red + chunk_len - 1) / chunk_len;
  const int64_t blocks_x = (plan.n_keep + kThreads - 1) / kThreads;
  XCLIP_CHECK(blocks_x <= int64_t(0x7fffffff), "cuda::strided_sum: ", plan.n_keep, " outputs is too many");
  const dim3 grid{unsigned(blocks_x), unsigned(chunks)};
  if (chunks == 1) {
    sum_chunk_kernel<T><<<grid, kThreads, 0, st>>>(src, dst, nullptr, plan, chunk_len, accumulate);
    XCLIP_CUDA_LAUNCH_CHECK();
    return;
  }
  Scratch<Accum> partial(size_t(chunks * plan.n_keep));
  sum_chunk_kernel<T><<<grid, kThreads, 0, st>>>(src, dst, partial.get(), plan, chunk_len, accumulate);
  XCLIP_CUDA_LAUNCH_CHECK();
  sum_partials_kernel<T><<<grid_for(plan.n_keep), kThreads, 0, st>>>(partial.get(), chunks, dst, plan, accumulate);
  XCLIP_CUDA_LAUNCH_CHECK();
}

template void strided_sum<float>(const float*, float*, const StridedSpace&, bool);
template void strided_sum<double>(const double*, double*, const StridedSpace&, bool);

}  // namespace xclip::cuda::detail
