// Element-type conversion of device memory (Tensor::to(DType) on a CUDA tensor). The rules are
// those of the CPU conversion in src/core/tensor.cpp: integer to integer through int64 (exact),
// everything else through double; f16/bf16 round to nearest even (from f32, or from f64 via f32).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "common.cuh"

namespace xclip::cuda {

namespace {
using detail::global_index;
using detail::global_stride;
using detail::grid_for;
using detail::kThreads;

__device__ __forceinline__ bool is_integer(DType t) { return t == DType::i32 || t == DType::i64 || t == DType::u8; }

__device__ __forceinline__ double load_double(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::f32: return static_cast<const float*>(p)[i];
    case DType::f64: return static_cast<const double*>(p)[i];
    case DType::bf16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    case DType::f16: return __half2float(static_cast<const __half*>(p)[i]);
    case DType::i32: return static_cast<const int32_t*>(p)[i];
    case DType::i64: return double(static_cast<const int64_t*>(p)[i]);
    case DType::u8: return static_cast<const uint8_t*>(p)[i];
  }
  return 0;
}

__device__ __forceinline__ void store_double(void* p, DType t, int64_t i, double v) {
  switch (t) {
    case DType::f32: static_cast<float*>(p)[i] = float(v); break;
    case DType::f64: static_cast<double*>(p)[i] = v; break;
    case DType::bf16: static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(float(v)); break;
    case DType::f16: static_cast<__half*>(p)[i] = __float2half_rn(float(v)); break;
    case DType::i32: static_cast<int32_t*>(p)[i] = int32_t(v); break;
    case DType::i64: static_cast<int64_t*>(p)[i] = int64_t(v); break;
    case DType::u8: static_cast<uint8_t*>(p)[i] = uint8_t(v); break;
  }
}

__device__ __forceinline__ int64_t load_int(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::i32: return static_cast<const int32_t*>(p)[i];
    case DType::i64: return static_cast<const int64_t*>(p)[i];
    default: return static_cast<const uint8_t*>(p)[i];
  }
}

__device__ __forceinline__ void store_int(void* p, DType t, int64_t i, int64_t v) {
  switch (t) {
    case DType::i32: static_cast<int32_t*>(p)[i] = int32_t(v); break;
    case DType::i64: static_cast<int64_t*>(p)[i] = v; break;
    default: static_cast<uint8_t*>(p)[i] = uint8_t(v); break;
  }
}

__global__ void convert_kernel(const void* src, DType st, void* dst, DType dt, int64_t n) {
  const bool ints = is_integer(st) && is_integer(dt);
  for (int64_t i = global_index(); i < n; i += global_stride()) {
    if (ints)
      store_int(dst, dt, i, load_int(src, st, i));
    else
      store_double(dst, dt, i, load_double(src, st, i));
  }
}

}  // namespace

void convert_elements(const void* src, DType src_type, void* dst, DType dst_type, int64_t n) {
  XCLIP_CHECK(n >= 0, "cuda::convert_elements: negative count ", n);
  if (n == 0) return;
  if (src_type == dst_type) {
    XCLIP_CUDA_CHECK(cudaMemcpyAsync(dst, src, size_t(n) * dtype_size(src_type), cudaMemcpyDeviceToDevice,
                                     cuda_stream()));
    return;
  }
  convert_kernel<<<grid_for(n), kThreads, 0, cuda_stream()>>>(src, src_type, dst, dst_type, n);
  XCLIP_CUDA_LAUNCH_CHECK();
}

}  // namespace xclip::cuda
