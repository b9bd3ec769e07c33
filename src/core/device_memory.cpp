#include "xclip/core/device_memory.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "xclip/core/error.hpp"

#ifdef XCLIP_WITH_CUDA
#include "xclip/cuda/runtime.hpp"
#endif

namespace xclip {

namespace {
constexpr size_t kHostAlignment = 64;  // cache line; also what AVX-512 loads like

// Host blocks carry their size in a header of one alignment unit before the returned pointer, so
// that a free knows what it returns: the live and peak byte counts of tensor storage on the CPU
// (what the memory benchmarks and --chunk_clips auto measure) cost two atomics per allocation.
std::atomic<size_t> g_host_in_use{0};
std::atomic<size_t> g_host_peak{0};

void note_host_alloc(size_t bytes) {
  const size_t now = g_host_in_use.fetch_add(bytes) + bytes;
  size_t peak = g_host_peak.load();
  while (now > peak && !g_host_peak.compare_exchange_weak(peak, now)) {
  }
}

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
    XCLIP_CHECK(bytes <= (size_t(1) << 62), "cannot allocate ", bytes, " bytes of host memory (a size overflow?)");
    const size_t rounded = std::max((bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment, kHostAlignment);
    auto* block = static_cast<unsigned char*>(std::aligned_alloc(kHostAlignment, rounded + kHostAlignment));
    XCLIP_CHECK(block != nullptr, "out of host memory allocating ", bytes, " bytes");
    std::memcpy(block, &rounded, sizeof rounded);
    note_host_alloc(rounded);
    return block + kHostAlignment;
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
    auto* block = static_cast<unsigned char*>(ptr) - kHostAlignment;
    size_t rounded = 0;
    std::memcpy(&rounded, block, sizeof rounded);
    g_host_in_use.fetch_sub(rounded);
    std::free(block);
    return;
  }
#ifdef XCLIP_WITH_CUDA
  cuda::release(ptr);
#endif
}

TensorMemory tensor_memory(Device device) {
  if (device == Device::cpu) return {g_host_in_use.load(), g_host_peak.load()};
#ifdef XCLIP_WITH_CUDA
  const cuda::MemoryStats s = cuda::memory_stats();
  return {s.in_use, s.peak_in_use};
#else
  no_cuda("tensor_memory");
#endif
}

void reset_tensor_memory_peak(Device device) {
  if (device == Device::cpu) {
    g_host_peak.store(g_host_in_use.load());
    return;
  }
#ifdef XCLIP_WITH_CUDA
  cuda::reset_peak();
#else
  no_cuda("reset_tensor_memory_peak");
#endif
}

size_t available_memory(Device device) {
  if (device == Device::cpu) {
    // MemAvailable: what the kernel estimates can be allocated without swapping.
    std::ifstream meminfo("/proc/meminfo");
    std::string line;
    while (std::getline(meminfo, line))
      if (line.rfind("MemAvailable:", 0) == 0) return size_t(std::stoull(line.substr(13))) * 1024;  // "... kB"
    throw Error("available_memory: /proc/meminfo has no MemAvailable line");
  }
#ifdef XCLIP_WITH_CUDA
  return cuda::available_bytes();
#else
  no_cuda("available_memory");
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
