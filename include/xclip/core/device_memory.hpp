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
// Copies `bytes` between any two devices (host<->device, device<->device, host<->host).
void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
void device_memset_zero(void* ptr, size_t bytes, Device device);
// Element-type conversion of n elements within one device's memory; for Device::cuda (the CPU
// conversion is Tensor's own, src/core/tensor.cpp, which the CUDA kernel follows).
void device_convert(const void* src, DType src_type, void* dst, DType dst_type, int64_t n, Device device);

}  // namespace xclip
