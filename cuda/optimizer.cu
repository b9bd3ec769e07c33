// Fused optimizer steps over a flat list of parameters: one launch sequence for all of them, in
// the chunked layout of slot_chunks.cuh. Arithmetic reproduces src/train/bert_adam.cpp operation by
// operation in the parameter's type (explicitly rounded intrinsics, so no FMA contraction), and
// BertAdam's per-parameter clipping computes the norm in double as src/train/clip.cpp does.
#include <cmath>
#include <vector>

#include "common.cuh"
#include "slot_chunks.cuh"

namespace xclip::cuda {

namespace {
using detail::add_rn;
using detail::div_rn;
using detail::mul_rn;
using detail::sqrt_rn;
using detail::sub_rn;

using chunked::chunk_offsets;
using chunked::kChunk;
using chunked::kThreadsPerBlock;
using chunked::slot_of_chunk;
using chunked::SlotTable;

// One parameter as the kernels see it; the scalars are already rounded to T as the CPU rounds them.
template <class T>
struct DeviceSlot {
  T* param;
  T* grad;
  T* m;
  T* v;
  int64_t numel;
  T lr;            // BertAdam: T(lr_t)
  T weight_decay;  // BertAdam: T(wd), used when use_decay
  int use_decay;   // BertAdam: wd > 0
  T decay;         // AdamW: T(1 − lr·wd)
  T step_size;     // AdamW: T(lr / (1 − b1^step))
  T bc2_sqrt;      // AdamW: T(sqrt(1 − b2^step))
};

// Constants shared by every slot, rounded to T.
template <class T>
struct AdamConstants {
  T b1, b2, one_minus_b1, one_minus_b2, eps;
};

// Element range [begin, end) of chunk b inside its slot.
template <class T>
__device__ __forceinline__ void chunk_range(const DeviceSlot<T>& s, const int64_t* chunk_begin, int64_t slot,
                                            int64_t b, int64_t* begin, int64_t* end) {
  chunked::chunk_range(s.numel, chunk_begin, slot, b, begin, end);
}

// ---- BertAdam -------------------------------------------------------------------------------------------
// partial[b] = Σ g² over chunk b, in double.
template <class T>
__global__ void grad_sum_squares_kernel(const DeviceSlot<T>* slots, const int64_t* chunk_begin, int64_t count,
                                        double* partial) {
  __shared__ double scratch[32];
  const int64_t b = blockIdx.x;
  const int64_t slot = slot_of_chunk(chunk_begin, count, b);
  const DeviceSlot<T> s = slots[slot];
  int64_t begin, end;
  chunk_range(s, chunk_begin, slot, b, &begin, &end);
  double sum = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) sum += double(s.grad[i]) * double(s.grad[i]);
  sum = detail::block_sum(sum, scratch);
  if (threadIdx.x == 0) partial[b] = sum;
}

// coef[s] = min(max_norm / (‖g_s‖ + 1e-6), 1), summing the chunk partials in order (deterministic).
__global__ void clip_coef_kernel(const double* partial, const int64_t* chunk_begin, int64_t count, double max_norm,
                                 double* coef) {
  for (int64_t s = detail::global_index(); s < count; s += detail::global_stride()) {
    double total = 0;
    for (int64_t b = chunk_begin[s]; b < chunk_begin[s + 1]; ++b) total += partial[b];
    const double c = max_norm / (sqrt(total) + 1e-6);
    coef[s] = 1.0 < c ? 1.0 : c;  // std::min(c, 1.0) as clip.cpp: a NaN norm gives a NaN coefficient there too
  }
}

template <class T>
__global__ void bert_adam_kernel(const DeviceSlot<T>* slots, const int64_t* chunk_begin, int64_t count,
                                 AdamConstants<T> k, const double* coef) {
  const int64_t b = blockIdx.x;
  const int64_t slot = slot_of_chunk(chunk_begin, count, b);
  const DeviceSlot<T> s = slots[slot];
  int64_t begin, end;
  chunk_range(s, chunk_begin, slot, b, &begin, &end);
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    T g = s.grad[i];
    if (coef) {  // the clipped gradient is written back, as clip_grad_norm does on the CPU
      g = T(double(g) * coef[slot]);
      s.grad[i] = g;
    }
    T m = mul_rn(s.m[i], k.b1);
    m = add_rn(m, mul_rn(k.one_minus_b1, g));
    T v = mul_rn(s.v[i], k.b2);
    v = add_rn(v, mul_rn(k.one_minus_b2, mul_rn(g, g)));
    T u = div_rn(m, add_rn(sqrt_rn(v), k.eps));
    T p = s.param[i];
    if (s.use_decay) u = add_rn(u, mul_rn(s.weight_decay, p));
    s.param[i] = sub_rn(p, mul_rn(s.lr, u));
    s.m[i] = m;
    s.v[i] = v;
  }
}

// ---- AdamW ---------------------------------------------------------------------------------------------
template <class T>
__global__ void adamw_kernel(const DeviceSlot<T>* slots, const int64_t* chunk_begin, int64_t count,
                             AdamConstants<T> k) {
  const int64_t b = blockIdx.x;
  const int64_t slot = slot_of_chunk(chunk_begin, count, b);
  const DeviceSlot<T> s = slots[slot];
  int64_t begin, end;
  chunk_range(s, chunk_begin, slot, b, &begin, &end);
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const T g = s.grad[i];
    const T p = mul_rn(s.param[i], s.decay);
    const T m = add_rn(mul_rn(s.m[i], k.b1), mul_rn(k.one_minus_b1, g));
    const T v = add_rn(mul_rn(s.v[i], k.b2), mul_rn(mul_rn(k.one_minus_b2, g), g));
    const T denom = add_rn(div_rn(sqrt_rn(v), s.bc2_sqrt), k.eps);
    s.param[i] = sub_rn(p, mul_rn(s.step_size, div_rn(m, denom)));
    s.m[i] = m;
    s.v[i] = v;
  }
}

// ---- host side -------------------------------------------------------------------------------------------
template <class T>
void check_slots(const char* who, const AdamSlot<T>* slots, int64_t count) {
  XCLIP_CHECK(count >= 0 && (count == 0 || slots), who, ": bad slot list (count ", count, ")");
  for (int64_t i = 0; i < count; ++i) {
    const AdamSlot<T>& s = slots[i];
    XCLIP_CHECK(s.numel >= 0, who, ": slot ", i, " has numel ", s.numel);
    XCLIP_CHECK(s.numel == 0 || (s.param && s.grad && s.m && s.v), who, ": slot ", i, " has a null buffer");
  }
}

template <class T>
AdamConstants<T> constants(double b1, double b2, double eps) {
  return {T(b1), T(b2), T(1 - b1), T(1 - b2), T(eps)};
}

}  // namespace

template <class T>
void bert_adam_step(const AdamSlot<T>* slots, int64_t count, double b1, double b2, double e, double max_grad_norm) {
  check_slots("cuda::bert_adam_step", slots, count);
  const std::vector<int64_t> chunk_begin = chunk_offsets(slots, count);
  const int64_t chunks = chunk_begin.back();
  if (chunks == 0) return;
  XCLIP_CHECK(chunks <= int64_t(0x7fffffff), "cuda::bert_adam_step: too many parameters");
  std::vector<DeviceSlot<T>> dev(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const AdamSlot<T>& s = slots[i];
    dev[size_t(i)] = {s.param, s.grad, s.m, s.v, s.numel, T(s.lr), T(s.weight_decay), s.weight_decay > 0 ? 1 : 0,
                      T(0), T(0), T(0)};
  }
  const SlotTable<DeviceSlot<T>> table(dev, chunk_begin);
  cudaStream_t st = cuda_stream();
  const bool clip = max_grad_norm > 0;
  detail::Scratch<double> partial(size_t(clip ? chunks : 1));
  detail::Scratch<double> coef(size_t(clip ? count : 1));
  if (clip) {
    grad_sum_squares_kernel<T><<<unsigned(chunks), kThreadsPerBlock, 0, st>>>(table.slots(), table.chunk_begin(),
                                                                              count, partial.get());
    XCLIP_CUDA_LAUNCH_CHECK();
    clip_coef_kernel<<<detail::grid_for(count), detail::kThreads, 0, st>>>(partial.get(), table.chunk_begin(), count,
                                                                           max_grad_norm, coef.get());
    XCLIP_CUDA_LAUNCH_CHECK();
  }
  bert_adam_kernel<T><<<unsigned(chunks), kThreadsPerBlock, 0, st>>>(table.slots(), table.chunk_begin(), count,
                                                                     constants<T>(b1, b2, e),
                                                                     clip ? coef.get() : nullptr);
  XCLIP_CUDA_LAUNCH_CHECK();
}

template <class T>
void adamw_step(const AdamSlot<T>* slots, int64_t count, double b1, double b2, double eps) {
  check_slots("cuda::adamw_step", slots, count);
  const std::vector<int64_t> chunk_begin = chunk_offsets(slots, count);
  const int64_t chunks = chunk_begin.back();
  if (chunks == 0) return;
  XCLIP_CHECK(chunks <= int64_t(0x7fffffff), "cuda::adamw_step: too many parameters");
  std::vector<DeviceSlot<T>> dev(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const AdamSlot<T>& s = slots[i];
    XCLIP_CHECK(s.step >= 1, "cuda::adamw_step: slot ", i, " has step ", s.step, " (the count after incrementing)");
    // Exactly adamw_update's scalars (src/train/bert_adam.cpp).
    const double bc1 = 1 - std::pow(b1, double(s.step)), bc2 = 1 - std::pow(b2, double(s.step));
    dev[size_t(i)] = {s.param, s.grad, s.m, s.v, s.numel, T(s.lr), T(s.weight_decay), 0,
                      T(1 - s.lr * s.weight_decay), T(s.lr / bc1), T(std::sqrt(bc2))};
  }
  const SlotTable<DeviceSlot<T>> table(dev, chunk_begin);
  adamw_kernel<T><<<unsigned(chunks), kThreadsPerBlock, 0, cuda_stream()>>>(table.slots(), table.chunk_begin(), count,
                                                                           constants<T>(b1, b2, eps));
  XCLIP_CUDA_LAUNCH_CHECK();
}

template void bert_adam_step<float>(const AdamSlot<float>*, int64_t, double, double, double, double);
template void bert_adam_step<double>(const AdamSlot<double>*, int64_t, double, double, double, double);
template void adamw_step<float>(const AdamSlot<float>*, int64_t, double, double, double);
template void adamw_step<double>(const AdamSlot<double>*, int64_t, double, double, double);

}  // namespace xclip::cuda
