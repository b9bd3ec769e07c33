// CUDA runtime seam: caching device allocator, copies, error checks.
#include <cuda_runtime.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>

#include "xclip/core/error.hpp"
#include "xclip/cuda/runtime.hpp"

namespace xclip::cuda {

void check_cuda(int status, const char* call, const char* file, int line) {
  if (status == int(cudaSuccess)) return;
  throw Error(format(file, ":", line, ": ", call, ": ", cudaGetErrorString(cudaError_t(status))));
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

std::string device_name() {
  cudaDeviceProp prop{};
  XCLIP_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  return prop.name;
}

namespace {

// Blocks are rounded up to 512 bytes (small) or 2 MiB (large) and kept in a free list keyed by
// rounded size. A request takes the smallest cached block that is at most 2x too big.
size_t round_size(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t(2) << 20;
  if (bytes < (size_t(1) << 20)) return (bytes + kSmall - 1) / kSmall * kSmall;
  return (bytes + kLarge - 1) / kLarge * kLarge;
}

struct Allocator {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;       // size -> pointer
  std::unordered_map<void*, size_t> live_blocks;  // pointer -> size
  MemoryStats stats;

  void* take_cached(size_t size) {
    auto it = free_blocks.lower_bound(size);
    if (it == free_blocks.end() || it->first > 2 * size) return nullptr;
    void* p = it->second;
    stats.cached -= it->first;
    live_blocks[p] = it->first;
    stats.in_use += it->first;
    free_blocks.erase(it);
    return p;
  }

  void release_all_cached() {
    // Queued kernels may still use a cached block (release() does not wait for them): finish them.
    if (!free_blocks.empty()) cudaDeviceSynchronize();
    for (auto& [size, p] : free_blocks) cudaFree(p);
    free_blocks.clear();
    stats.cached = 0;
  }
};

Allocator& allocator() {
  static Allocator* a = new Allocator();  // never destroyed: frees at exit would race the driver
  return *a;
}

// XCLIP_CUDA_POISON=1 fills every block the cache hands out again with 0xff bytes (NaN as f32/f64),
// so a kernel that leaves part of its output unwritten shows NaN instead of an earlier result.
// A debugging switch; on by default in the CPU emulator build (tests/cuda_emu).
bool poison_reused_blocks() {
  static const bool on = [] {
    const char* v = std::getenv("XCLIP_CUDA_POISON");
#ifdef XCLIP_CUDA_EMULATION
    return !(v && std::string(v) == "0");
#else
    return v && *v && std::string(v) != "0";
#endif
  }();
  return on;
}

}  // namespace

void* allocate(size_t bytes) {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  size_t size = round_size(bytes == 0 ? 1 : bytes);
  if (void* p = a.take_cached(size)) {
    a.stats.peak_in_use = std::max(a.stats.peak_in_use, a.stats.in_use);
    if (poison_reused_blocks()) XCLIP_CUDA_CHECK(cudaMemset(p, 0xff, size));
    return p;
  }
  void* p = nullptr;
  cudaError_t st = cudaMalloc(&p, size);
  if (st != cudaSuccess) {  // give the cache back to the driver and try once more
    cudaGetLastError();
    a.release_all_cached();
    st = cudaMalloc(&p, size);
  }
  if (st != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    throw Error(format("CUDA out of memory: requested ", bytes, " bytes; in use by xclip ", a.stats.in_use,
                       " bytes, device free ", free_b, " of ", total_b, " bytes"));
  }
  a.stats.device_allocs++;
  a.live_blocks[p] = size;
  a.stats.in_use += size;
  a.stats.peak_in_use = std::max(a.stats.peak_in_use, a.stats.in_use);
  return p;
}

void release(void* ptr) {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  auto it = a.live_blocks.find(ptr);
  XCLIP_CHECK(it != a.live_blocks.end(), "cuda::release: pointer not from this allocator");
  a.stats.in_use -= it->second;
  a.stats.cached += it->second;
  a.free_blocks.emplace(it->second, ptr);
  a.live_blocks.erase(it);
}

void empty_cache() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  a.release_all_cached();
}

MemoryStats memory_stats() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  return a.stats;
}

void reset_peak() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  a.stats.peak_in_use = a.stats.in_use;
}

size_t available_bytes() {
  size_t free_b = 0, total_b = 0;
  XCLIP_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  return free_b + memory_stats().cached;  // the cache is ours to reuse
}

void copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, size_t bytes) {
  cudaMemcpyKind kind = dst_on_device ? (src_on_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                      : (src_on_device ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  XCLIP_CUDA_CHECK(cudaMemcpy(dst, src, bytes, kind));
}

void memset_zero(void* ptr, size_t bytes) { XCLIP_CUDA_CHECK(cudaMemset(ptr, 0, bytes)); }

void synchronize() { XCLIP_CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace xclip::cuda
