#include "xclip/core/device_memory.hpp"

#include <cstdlib>
#include <cstring>

#include "xclip/core/error.hpp"

#ifdef XCLIP_WITH_CUDA
#include "xclip/cuda/runtime.hpp"
#endif

namespace xclip {

namespace {
constexpr size_t kHostAlignment = 64;  // cache line; also what AVX-512 loads like

#ifndef XCLIP_WITH_CUDA
[[noreturn]] void no_cuda(const char* what) {
  throw Error(format(what, ": this build has no CUDA support (configure with XCLIP_CUDA=ON on a machine with nvcc)"));
}
#endif
}  // namespace

bool cuda_available() {
#ifdef XCLIP_WITH_CUDA
  return cuda::device_count() > 0;
#else
  return false;
#endif
}

void* device_alloc(size_t bytes, Device device) {
  if (device == Device::cpu) {
    size_t rounded = (bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
    void* p = std::aligned_alloc(kHostAlignment, rounded == 0 ? kHostAlignment : rounded);
    XCLIP_CHECK(p != nullptr, "out of host memory allocating ", bytes, " bytes");
    return p;
  }
#ifdef XCLIP_WITH_CUDA
  return cuda::allocate(bytes);
#else
  no_cuda("device_alloc");
#endif
}

void device_free(void* ptr, Device device) {
  if (!ptr) return;
  if (device == Device::cpu) {
    std::free(ptr);
    return;
  }
#ifdef XCLIP_WITH_CUDA
  cuda::release(ptr);
#endif
}

void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device == Device::cpu && src_device == Device::cpu) {
    std::memcpy(dst, src, bytes);
    return;
  }
#ifdef XCLIP_WITH_CUDA
  cuda::copy(dst, dst_device == Device::cuda, src, src_device == Device::cuda, bytes);
#else
  no_cuda("device_copy");
#endif
}

void device_memset_zero(void* ptr, size_t bytes, Device device) {
  if (bytes == 0) return;
  if (device == Device::cpu) {
    std::memset(ptr, 0, bytes);
    return;
  }
#ifdef XCLIP_WITH_CUDA
  cuda::memset_zero(ptr, bytes);
#else
  no_cuda("device_memset_zero");
#endif
}

void device_convert(const void* src, DType src_type, void* dst, DType dst_type, int64_t n, Device device) {
  XCLIP_CHECK(device == Device::cuda, "device_convert: the CPU conversion lives in Tensor::to(DType)");
#ifdef XCLIP_WITH_CUDA
  cuda::convert_elements(src, src_type, dst, dst_type, n);
#else
  (void)src, (void)src_type, (void)dst, (void)dst_type, (void)n;
  no_cuda("device_convert");
#endif
}

}  // namespace xclip
