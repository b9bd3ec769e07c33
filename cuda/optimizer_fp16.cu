// The --official_fp16 optimizer on the GPU; twins of src/kernels/optimizer_fp16.cpp, bit for bit.
// The element arithmetic is xclip/kernels/fp16_rounding.hpp, compiled here as device code (each
// op an explicitly rounded intrinsic, conversions __float2half_rn / __half2float). The fp16 norms
// are exact fixed-point sums (see that header), reduced per chunk of the fused layout
// (slot_chunks.cuh) and then per slot: the order of the additions cannot change them.
#include <vector>

#include "common.cuh"
#include "slot_chunks.cuh"
#include "xclip/kernels/fp16_rounding.hpp"

namespace xclip::cuda {

namespace {
using namespace fp16_rounding;
using chunked::chunk_offsets;
using chunked::chunk_range;
using chunked::kThreadsPerBlock;
using chunked::slot_of_chunk;
using chunked::SlotTable;
using detail::global_index;
using detail::global_stride;
using detail::grid_for;
using detail::kThreads;

// One chunk's (or slot's) exact Σ fp16(g)², and which non-finite values it met.
struct alignas(16) SquareSum {
  u128 units;
  unsigned flags;
};

// Block-wide sum of an exact accumulator (blockDim.x == kThreadsPerBlock). Integer additions are
// exact, so the tree's order does not matter.
__device__ u128 block_sum_units(u128 v) {
  __shared__ u128 scratch[kThreadsPerBlock];
  scratch[threadIdx.x] = v;
  __syncthreads();
  for (int stride = kThreadsPerBlock / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) scratch[threadIdx.x] += scratch[threadIdx.x + stride];
    __syncthreads();
  }
  return scratch[0];
}

// partial[b] = the exact Σ fp16(g)² over chunk b of its slot.
__global__ void square_sum_kernel(const Fp16AdamSlot* slots, const int64_t* chunk_begin, int64_t count,
                                  SquareSum* partial) {
  const int64_t b = blockIdx.x;
  const int64_t slot = slot_of_chunk(chunk_begin, count, b);
  const Fp16AdamSlot s = slots[slot];
  int64_t begin, end;
  chunk_range(s.numel, chunk_begin, slot, b, &begin, &end);
  u128 units = 0;
  unsigned flags = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const float h = round_f16(s.grad[i]);
    const unsigned f = nonfinite_flag(h);
    flags |= f;
    if (!f) units += square_units(h);
  }
  const unsigned any_inf = __syncthreads_or(flags & kHasInf) ? kHasInf : 0u;
  const unsigned any_nan = __syncthreads_or(flags & kHasNaN) ? kHasNaN : 0u;
  units = block_sum_units(units);
  if (threadIdx.x == 0) partial[b] = SquareSum{units, any_inf | any_nan};
}

// norm[s] = the f32 norm of slot s from its chunks' partial sums.
__global__ void slot_norm_kernel(const SquareSum* partial, const int64_t* chunk_begin, int64_t count, float* norm) {
  for (int64_t s = global_index(); s < count; s += global_stride()) {
    u128 units = 0;
    unsigned flags = 0;
    for (int64_t b = chunk_begin[s]; b < chunk_begin[s + 1]; ++b) {
      units += partial[b].units;
      flags |= partial[b].flags;
    }
    norm[s] = norm_from_square_units(units, flags);
  }
}

// The update of every element; `norm` (per slot) is null when clipping is off.
__global__ void bert_adam_fp16_kernel(const Fp16AdamSlot* slots, const int64_t* chunk_begin, int64_t count,
                                      Fp16AdamConstants k, const float* norm) {
  const int64_t b = blockIdx.x;
  const int64_t slot = slot_of_chunk(chunk_begin, count, b);
  const Fp16AdamSlot s = slots[slot];
  int64_t begin, end;
  chunk_range(s.numel, chunk_begin, slot, b, &begin, &end);
  const Fp16UpdateConstants c{k.b1, k.one_minus_b1, k.b2, k.one_minus_b2, k.e, s.weight_decay, s.lr, s.decay};
  const float coef = norm ? clip_coefficient(norm[slot], k.max_grad_norm, k.clip_eps) : 1.0f;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
    update_stored_element(s.param, s.param_f16, i, s.grad[i], coef, s.m[i], s.v[i], c);
}

__global__ void f16_scale_kernel(float* x, int64_t n, float c) {
  for (int64_t i = global_index(); i < n; i += global_stride()) x[i] = mul16(round_f16(x[i]), c);
}

__global__ void divide_by_kernel(float* x, int64_t n, float d, bool in_f16) {
  for (int64_t i = global_index(); i < n; i += global_stride())
    x[i] = in_f16 ? div16(round_f16(x[i]), d) : div32(x[i], d);
}

// *first = min(*first, i) over the elements that are not fp16 values (NaN counts as one).
__global__ void first_non_f16_kernel(const float* x, int64_t n, unsigned long long* first) {
  for (int64_t i = global_index(); i < n; i += global_stride())
    if (!(round_f16(x[i]) == x[i] || x[i] != x[i])) atomicMin(first, (unsigned long long)i);
}

void check_slots(const Fp16AdamSlot* slots, int64_t count) {
  XCLIP_CHECK(count >= 0 && (count == 0 || slots), "cuda::bert_adam_fp16_step: bad slot list (count ", count, ")");
  for (int64_t i = 0; i < count; ++i) {
    const Fp16AdamSlot& s = slots[i];
    XCLIP_CHECK(s.numel >= 0, "cuda::bert_adam_fp16_step: slot ", i, " has numel ", s.numel);
    XCLIP_CHECK(s.numel == 0 || ((s.param != nullptr) != (s.param_f16 != nullptr) && s.grad && s.m && s.v),
                "cuda::bert_adam_fp16_step: slot ", i, " needs exactly one parameter buffer and grad, m, v");
  }
}

// The f32 norm of every slot's fp16-rounded gradient, into norm[count] (device).
void slot_norms(const SlotTable<Fp16AdamSlot>& table, int64_t count, int64_t chunks, float* norm) {
  cudaStream_t st = cuda_stream();
  detail::Scratch<SquareSum> partial{size_t(chunks)};
  square_sum_kernel<<<unsigned(chunks), kThreadsPerBlock, 0, st>>>(table.slots(), table.chunk_begin(), count,
                                                                   partial.get());
  XCLIP_CUDA_LAUNCH_CHECK();
  slot_norm_kernel<<<grid_for(count), kThreads, 0, st>>>(partial.get(), table.chunk_begin(), count, norm);
  XCLIP_CUDA_LAUNCH_CHECK();
}

int64_t checked_chunks(const std::vector<int64_t>& chunk_begin, const char* who) {
  const int64_t chunks = chunk_begin.back();
  XCLIP_CHECK(chunks <= int64_t(0x7fffffff), who, ": too many elements");
  return chunks;
}

}  // namespace

void bert_adam_fp16_step(const Fp16AdamSlot* slots, int64_t count, const Fp16AdamConstants& k) {
  check_slots(slots, count);
  const std::vector<int64_t> chunk_begin = chunk_offsets(slots, count);
  const int64_t chunks = checked_chunks(chunk_begin, "cuda::bert_adam_fp16_step");
  if (chunks == 0) return;
  const SlotTable<Fp16AdamSlot> table(std::vector<Fp16AdamSlot>(slots, slots + count), chunk_begin);
  detail::Scratch<float> norm(size_t(k.clip ? count : 1));
  if (k.clip) slot_norms(table, count, chunks, norm.get());
  bert_adam_fp16_kernel<<<unsigned(chunks), kThreadsPerBlock, 0, cuda_stream()>>>(
      table.slots(), table.chunk_begin(), count, k, k.clip ? norm.get() : nullptr);
  XCLIP_CUDA_LAUNCH_CHECK();
}

float f16_norm(const float* x, int64_t n) {
  XCLIP_CHECK(n >= 0, "cuda::f16_norm: negative count ", n);
  if (n == 0) return 0.0f;
  Fp16AdamSlot one;
  one.grad = x;
  one.numel = n;
  const std::vector<int64_t> chunk_begin = chunk_offsets(&one, 1);
  const int64_t chunks = checked_chunks(chunk_begin, "cuda::f16_norm");
  const SlotTable<Fp16AdamSlot> table({one}, chunk_begin);
  detail::Scratch<float> norm(1);
  slot_norms(table, 1, chunks, norm.get());
  float result = 0;
  cudaStream_t st = cuda_stream();
  XCLIP_CUDA_CHECK(cudaMemcpyAsync(&result, norm.get(), sizeof(float), cudaMemcpyDeviceToHost, st));
  XCLIP_CUDA_CHECK(cudaStreamSynchronize(st));
  return round_f16(result);  // the host's conversion: the same rounding as __float2half_rn
}

void f16_scale(float* x, int64_t n, float c) {
  XCLIP_CHECK(n >= 0, "cuda::f16_scale: negative count ", n);
  if (n == 0) return;
  f16_scale_kernel<<<grid_for(n), kThreads, 0, cuda_stream()>>>(x, n, c);
  XCLIP_CUDA_LAUNCH_CHECK();
}

void divide_by(float* x, int64_t n, float d, bool in_f16) {
  XCLIP_CHECK(n >= 0, "cuda::divide_by: negative count ", n);
  if (n == 0) return;
  divide_by_kernel<<<grid_for(n), kThreads, 0, cuda_stream()>>>(x, n, d, in_f16);
  XCLIP_CUDA_LAUNCH_CHECK();
}

int64_t first_non_f16_value(const float* x, int64_t n) {
  XCLIP_CHECK(n >= 0, "cuda::first_non_f16_value: negative count ", n);
  if (n == 0) return -1;
  cudaStream_t st = cuda_stream();
  const unsigned long long none = ~0ull;
  detail::Scratch<unsigned long long> first(1);
  XCLIP_CUDA_CHECK(cudaMemcpyAsync(first.get(), &none, sizeof(none), cudaMemcpyHostToDevice, st));
  first_non_f16_kernel<<<grid_for(n), kThreads, 0, st>>>(x, n, first.get());
  XCLIP_CUDA_LAUNCH_CHECK();
  unsigned long long result = none;
  XCLIP_CUDA_CHECK(cudaMemcpyAsync(&result, first.get(), sizeof(result), cudaMemcpyDeviceToHost, st));
  XCLIP_CUDA_CHECK(cudaStreamSynchronize(st));
  return result == none ? -1 : int64_t(result);
}

}  // namespace xclip::cuda
