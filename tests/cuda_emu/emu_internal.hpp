// Seams between the emulator's parts (tests/cuda_emu): the launch error, the dynamic shared memory
// limits set with cudaFuncSetAttribute, and the window in which device memory is accessible.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

namespace xclip_emu {

// The error cudaGetLastError reports next (a launch with a bad configuration sets it).
void set_last_error(cudaError_t error);

// cudaFuncAttributeMaxDynamicSharedMemorySize per kernel (default 48 KiB), and the device's opt-in cap.
constexpr size_t kDefaultDynamicShared = 48 * 1024;
constexpr size_t kMaxDynamicSharedOptin = 227 * 1024;
size_t max_dynamic_shared(const void* kernel);
void set_max_dynamic_shared(const void* kernel, size_t bytes);

// While one of these lives, device allocations are readable and writable (kernels, copies, GEMMs);
// otherwise they are PROT_NONE, so host code that touches device memory faults. Nests.
class DeviceAccess {
 public:
  DeviceAccess();
  ~DeviceAccess();
  DeviceAccess(const DeviceAccess&) = delete;
  DeviceAccess& operator=(const DeviceAccess&) = delete;
};

// True when [ptr, ptr + bytes) lies inside one device allocation.
bool is_device_range(const void* ptr, size_t bytes);
// True when ptr lies inside a live device allocation or at its end.
bool is_device_pointer(const void* ptr);
// True when [ptr, ptr + bytes) overlaps any device allocation.
bool touches_device(const void* ptr, size_t bytes);

}  // namespace xclip_emu
