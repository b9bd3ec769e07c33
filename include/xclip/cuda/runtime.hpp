// The CUDA runtime seam (cuda/runtime.cu): device memory through a caching allocator, copies,
// and the error check used around every CUDA/cuBLAS call. Only compiled with XCLIP_WITH_CUDA.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "xclip/core/dtype.hpp"

namespace xclip::cuda {

int device_count();  // 0 when no device/driver is present (never throws)
std::string device_name();

// Caching allocator: freed blocks are kept by size class and reused, so a steady-state training
// step makes no cudaMalloc/cudaFree calls. Out of memory -> xclip::Error with the request and usage.
void* allocate(size_t bytes);
void release(void* ptr);
void empty_cache();  // returns cached blocks to the driver
struct MemoryStats {
  size_t in_use = 0;      // bytes handed out
  size_t cached = 0;      // bytes held in the free lists
  size_t peak_in_use = 0;
  size_t device_allocs = 0;  // cudaMalloc calls so far
};
MemoryStats memory_stats();
void reset_peak();
// What further allocations can still get: the driver's free memory plus our cached blocks.
size_t available_bytes();

void copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, size_t bytes);
void memset_zero(void* ptr, size_t bytes);
void synchronize();
// Element-type conversion between two device arrays of n elements (cuda/convert.cu), by the rules
// of the CPU conversion in src/core/tensor.cpp. Queued on the kernels' stream.
void convert_elements(const void* src, DType src_type, void* dst, DType dst_type, int64_t n);

// Throws xclip::Error "<file>:<line>: <call>: <cuda error string>" on failure.
void check_cuda(int status, const char* call, const char* file, int line);

}  // namespace xclip::cuda

#define XCLIP_CUDA_CHECK(call) ::xclip::cuda::check_cuda(int(call), #call, __FILE__, __LINE__)
