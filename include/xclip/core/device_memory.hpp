// Raw memory on a device: the one place where the core touches the CUDA runtime.
// Built without CUDA, every cuda request throws an Error saying so.
#pragma once
#include <cstddef>

#include "xclip/core/dtype.hpp"

namespace xclip {

bool cuda_available();  // built with CUDA and a device is present
void* device_alloc(size_t bytes, Device device);
void device_free(void* ptr, Device device);
// Copies `bytes` between any two devices (host<->device, device<->device, host<->host).
void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
void device_memset_zero(void* ptr, size_t bytes, Device device);

}  // namespace xclip
