// Raw memory on a device: the one place where the core touches the CUDA runtime.
// Built without CUDA, every cuda request throws an Error saying so.
#pragma once
#include <cstddef>
#include <cstdint>

#include "xclip/core/dtype.hpp"

namespace xclip {

bool cuda_available();  // built with CUDA and a device is present
void* device_alloc(size_t bytes, Device device);
void device_free(void* ptr, Device device);

// Bytes of device_alloc'd memory live now and at most since the last reset (host: every block,
// rounded to 64 bytes; CUDA: the caching allocator's blocks handed out). Measured, not estimated:
// what the memory benchmarks and --chunk_clips auto read.
struct TensorMemory {
  size_t in_use = 0;
  size_t peak = 0;
};
TensorMemory tensor_memory(Device device);
void reset_tensor_memory_peak(Device device);  // peak := in_use
// Bytes that further allocations can still get (CPU: /proc/meminfo's MemAvailable; CUDA: the
// driver's free memory plus the caching allocator's free blocks).
size_t available_memory(Device device);
// Copies `bytes` between any two devices (host<->device, device<->device, host<->host).
void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
void device_memset_zero(void* ptr, size_t bytes, Device device);
// Element-type conversion of n elements within one device's memory; for Device::cuda (the CPU
// conversion is Tensor's own, src/core/tensor.cpp, which the CUDA kernel follows).
void device_convert(const void* src, DType src_type, void* dst, DType dst_type, int64_t n, Device device);

}  // namespace xclip
