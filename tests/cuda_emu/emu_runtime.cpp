// The CUDA runtime functions the backend calls, defined on the CPU for the emulator build
// (tests/cuda_emu/cuda_emu.hpp says what the emulator is and is not). One emulated device.
//
// Device memory comes from one reserved address range (so one mprotect switches all of it),
// is filled with 0xff bytes (NaN as f32/f64) when allocated and when freed, since cudaMalloc does
// not clear it, and is kept PROT_NONE outside kernels, copies and GEMMs: host code that
// dereferences a device pointer gets SIGSEGV with a message naming the allocation.
// Copies check their direction: a "device" side must lie inside one allocation and a "host" side
// must not touch any, as a wrong cudaMemcpyKind is an error (or a crash) on a GPU.
// Everything is synchronous, so streams and events only record times.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>

#include "emu_internal.hpp"

namespace xclip_emu {

namespace {

constexpr size_t kTotalMemory = size_t(16) << 30;  // what cudaMemGetInfo reports and cudaMalloc allows
constexpr size_t kAlign = 256;                        // cudaMalloc's alignment

struct Memory {
  std::mutex mu;
  unsigned char* arena = nullptr;             // kTotalMemory of reserved addresses
  size_t high = 0;                            // bytes of the arena ever handed out
  std::map<uintptr_t, size_t> blocks;         // live: start -> requested size
  std::unordered_map<uintptr_t, size_t> spans;  // live: start -> bytes taken from the arena
  std::multimap<size_t, uintptr_t> free_spans;  // freed: bytes -> start
  size_t in_use = 0;
  int open_windows = 0;
};

Memory& memory() {
  static Memory* m = new Memory();
  return *m;
}

bool protection_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("XCLIP_EMU_PROTECT");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return on;
}

// The arena is protected in whole 2 MiB (transparent huge) pages: switching the protection of
// 100 MB of 4 KiB pages takes milliseconds, of huge pages microseconds.
constexpr size_t kHugePage = size_t(2) << 20;

size_t used_pages_bytes(const Memory& m) { return (m.high + kHugePage - 1) / kHugePage * kHugePage; }

void protect_all(Memory& m, int prot) {
  if (m.arena && m.high) mprotect(m.arena, used_pages_bytes(m), prot);
}

bool window_open(const Memory& m) { return m.open_windows > 0 || !protection_enabled(); }

// The allocation holding `addr`, or blocks.end().
std::map<uintptr_t, size_t>::const_iterator find_block(const Memory& m, uintptr_t addr) {
  auto it = m.blocks.upper_bound(addr);
  if (it == m.blocks.begin()) return m.blocks.end();
  --it;
  return addr < it->first + std::max<size_t>(it->second, 1) ? it : m.blocks.end();
}

// Takes `bytes` (a multiple of kAlign) from the free spans (best fit) or the end of the arena.
unsigned char* take_span(Memory& m, size_t bytes) {
  auto it = m.free_spans.lower_bound(bytes);
  if (it != m.free_spans.end() && it->first <= 2 * bytes) {
    const uintptr_t start = it->second;
    m.spans[start] = it->first;
    m.free_spans.erase(it);
    return reinterpret_cast<unsigned char*>(start);
  }
  if (m.high + bytes > kTotalMemory) return nullptr;
  unsigned char* p = m.arena + m.high;
  const size_t old_pages = used_pages_bytes(m);
  m.high += bytes;
  const size_t new_pages = used_pages_bytes(m);
  if (new_pages > old_pages && window_open(m)) mprotect(m.arena + old_pages, new_pages - old_pages, PROT_READ | PROT_WRITE);
  m.spans[reinterpret_cast<uintptr_t>(p)] = bytes;
  return p;
}

void install_segv_handler();

// Fills [p, p + bytes) with 0xff, opening the protection around it when needed.
void poison(Memory& m, unsigned char* p, size_t bytes) {
  if (window_open(m)) {
    std::memset(p, 0xff, bytes);
    return;
  }
  protect_all(m, PROT_READ | PROT_WRITE);
  std::memset(p, 0xff, bytes);
  install_segv_handler();
  protect_all(m, PROT_NONE);
}

void on_segv(int, siginfo_t* info, void*) {
  Memory& m = memory();  // no lock: the faulting thread may hold it, and we only read
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  auto it = find_block(m, addr);
  char msg[256];
  int n = 0;
  if (it != m.blocks.end())
    n = std::snprintf(msg, sizeof msg,
                      "cuda-emu: host code touched device memory at %p (offset %zu of a %zu-byte allocation)\n",
                      info->si_addr, size_t(addr - it->first), it->second);
  else
    n = std::snprintf(msg, sizeof msg, "cuda-emu: segmentation fault at %p\n", info->si_addr);
  if (n > 0) (void)!write(2, msg, size_t(n));
  signal(SIGSEGV, SIG_DFL);
  raise(SIGSEGV);
}

// Installed again each time the memory is protected: a test framework may have put its own
// handler back in between (Catch2 restores the previous handlers after every test case).
void install_segv_handler() {
  struct sigaction sa {};
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, nullptr);
}

thread_local cudaError_t tls_last_error = cudaSuccess;

std::mutex g_shared_mu;
std::unordered_map<const void*, size_t> g_shared_limits;

using Clock = std::chrono::steady_clock;
struct EmuEvent {
  Clock::time_point at;
};

// The emulated stream handles: distinct non-null addresses that are never dereferenced.
unsigned char g_stream_tokens[64];
int g_streams_made = 0;

cudaError_t fail_copy(const char* what, const void* dst, const void* src, size_t bytes) {
  std::fprintf(stderr, "cuda-emu: %s (dst %p, src %p, %zu bytes)\n", what, dst, src, bytes);
  tls_last_error = cudaErrorInvalidValue;
  return cudaErrorInvalidValue;
}

cudaError_t checked_copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  const bool dst_dev = is_device_range(dst, bytes), src_dev = is_device_range(src, bytes);
  const bool dst_host = !touches_device(dst, bytes), src_host = !touches_device(src, bytes);
  bool ok = false;
  switch (kind) {
    case cudaMemcpyHostToDevice: ok = src_host && dst_dev; break;
    case cudaMemcpyDeviceToHost: ok = src_dev && dst_host; break;
    case cudaMemcpyDeviceToDevice: ok = src_dev && dst_dev; break;
    case cudaMemcpyHostToHost: ok = src_host && dst_host; break;
    case cudaMemcpyDefault: ok = (src_dev || src_host) && (dst_dev || dst_host); break;
  }
  if (!ok) return fail_copy("cudaMemcpy whose pointers do not match its cudaMemcpyKind", dst, src, bytes);
  DeviceAccess access;
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t checked_memset(void* ptr, int value, size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  if (!is_device_range(ptr, bytes)) return fail_copy("cudaMemset outside a device allocation", ptr, ptr, bytes);
  DeviceAccess access;
  std::memset(ptr, value, bytes);
  return cudaSuccess;
}

}  // namespace

void set_last_error(cudaError_t error) { tls_last_error = error; }

size_t max_dynamic_shared(const void* kernel) {
  std::lock_guard<std::mutex> lock(g_shared_mu);
  auto it = g_shared_limits.find(kernel);
  return it == g_shared_limits.end() ? kDefaultDynamicShared : it->second;
}

void set_max_dynamic_shared(const void* kernel, size_t bytes) {
  std::lock_guard<std::mutex> lock(g_shared_mu);
  g_shared_limits[kernel] = bytes;
}

DeviceAccess::DeviceAccess() {
  Memory& m = memory();
  std::lock_guard<std::mutex> lock(m.mu);
  if (m.open_windows++ == 0 && protection_enabled()) protect_all(m, PROT_READ | PROT_WRITE);
}

DeviceAccess::~DeviceAccess() {
  Memory& m = memory();
  std::lock_guard<std::mutex> lock(m.mu);
  if (--m.open_windows == 0 && protection_enabled()) {
    install_segv_handler();
    protect_all(m, PROT_NONE);
  }
}

bool is_device_range(const void* ptr, size_t bytes) {
  Memory& m = memory();
  std::lock_guard<std::mutex> lock(m.mu);
  const auto a = reinterpret_cast<uintptr_t>(ptr);
  auto it = find_block(m, a);
  return it != m.blocks.end() && a + bytes <= it->first + it->second;
}

bool is_device_pointer(const void* ptr) {
  Memory& m = memory();
  std::lock_guard<std::mutex> lock(m.mu);
  const auto a = reinterpret_cast<uintptr_t>(ptr);
  if (find_block(m, a) != m.blocks.end()) return true;
  auto it = m.blocks.lower_bound(a);  // a block ending exactly at a: a one-past-the-end pointer
  if (it == m.blocks.begin()) return false;
  --it;
  return it->first + it->second == a;
}

bool touches_device(const void* ptr, size_t bytes) {
  Memory& m = memory();
  std::lock_guard<std::mutex> lock(m.mu);
  const auto a = reinterpret_cast<uintptr_t>(ptr);
  auto it = m.blocks.lower_bound(a + bytes);  // first block starting at or after the end
  if (it == m.blocks.begin()) return false;
  --it;
  return it->first + std::max<size_t>(it->second, 1) > a;
}

}  // namespace xclip_emu

using namespace xclip_emu;

extern "C" {

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  Memory& m = memory();
  std::lock_guard<std::mutex> lock(m.mu);
  *ptr = nullptr;
  if (!m.arena) {
    void* a = mmap(nullptr, kTotalMemory + kHugePage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (a == MAP_FAILED) return tls_last_error = cudaErrorMemoryAllocation;
    const uintptr_t aligned = (reinterpret_cast<uintptr_t>(a) + kHugePage - 1) / kHugePage * kHugePage;
    m.arena = reinterpret_cast<unsigned char*>(aligned);
    madvise(m.arena, kTotalMemory, MADV_HUGEPAGE);
  }
  const size_t span = (std::max<size_t>(bytes, 1) + kAlign - 1) / kAlign * kAlign;
  if (m.in_use + span > kTotalMemory) return tls_last_error = cudaErrorMemoryAllocation;
  unsigned char* p = take_span(m, span);
  if (!p) return tls_last_error = cudaErrorMemoryAllocation;
  poison(m, p, span);
  m.blocks[reinterpret_cast<uintptr_t>(p)] = bytes;
  m.in_use += m.spans[reinterpret_cast<uintptr_t>(p)];
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  Memory& m = memory();
  std::lock_guard<std::mutex> lock(m.mu);
  const auto start = reinterpret_cast<uintptr_t>(ptr);
  auto it = m.blocks.find(start);
  if (it == m.blocks.end()) {
    std::fprintf(stderr, "cuda-emu: cudaFree of %p, which cudaMalloc did not return\n", ptr);
    return tls_last_error = cudaErrorInvalidValue;
  }
  const size_t span = m.spans.at(start);
  poison(m, static_cast<unsigned char*>(ptr), span);  // a use after free reads garbage
  m.in_use -= span;
  m.blocks.erase(it);
  m.spans.erase(start);
  m.free_spans.emplace(span, start);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  Memory& m = memory();
  std::lock_guard<std::mutex> lock(m.mu);
  *total_bytes = kTotalMemory;
  *free_bytes = kTotalMemory - m.in_use;
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  return checked_copy(dst, src, bytes, kind);
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return checked_copy(dst, src, bytes, kind);
}

cudaError_t cudaMemset(void* ptr, int value, size_t bytes) { return checked_memset(ptr, value, bytes); }

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t) {
  return checked_memset(ptr, value, bytes);
}

cudaError_t cudaGetLastError(void) {
  const cudaError_t e = tls_last_error;
  tls_last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError(void) { return tls_last_error; }

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNotSupported: return "operation not supported";
    default: return "unknown error (emulated)";
  }
}

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : (tls_last_error = cudaErrorInvalidDevice); }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return tls_last_error = cudaErrorInvalidDevice;
  std::memset(prop, 0, sizeof *prop);
  std::snprintf(prop->name, sizeof prop->name, "CUDA emulator on the CPU (xclip tests/cuda_emu)");
  prop->totalGlobalMem = kTotalMemory;
  prop->sharedMemPerBlock = kDefaultDynamicShared;
  prop->sharedMemPerBlockOptin = kMaxDynamicSharedOptin;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 0x7fffffff;
  prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
  prop->multiProcessorCount = 4;
  prop->major = 9;
  prop->minor = 0;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device != 0) return tls_last_error = cudaErrorInvalidDevice;
  switch (attr) {
    case cudaDevAttrMultiProcessorCount: *value = 4; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = int(kMaxDynamicSharedOptin); return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = int(kDefaultDynamicShared); return cudaSuccess;
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; return cudaSuccess;
    case cudaDevAttrWarpSize: *value = 32; return cudaSuccess;
    default:
      std::fprintf(stderr, "cuda-emu: cudaDeviceGetAttribute(%d) is not emulated\n", int(attr));
      return tls_last_error = cudaErrorNotSupported;
  }
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) {
    std::fprintf(stderr, "cuda-emu: cudaFuncSetAttribute(%d) is not emulated\n", int(attr));
    return tls_last_error = cudaErrorNotSupported;
  }
  if (value < 0 || size_t(value) > kMaxDynamicSharedOptin) return tls_last_error = cudaErrorInvalidValue;
  set_max_dynamic_shared(func, size_t(value));
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  *stream = reinterpret_cast<cudaStream_t>(&g_stream_tokens[g_streams_made++ % 64]);
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int) { return cudaStreamCreate(stream); }

cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }

cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  *event = reinterpret_cast<cudaEvent_t>(new EmuEvent{Clock::now()});
  return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int) { return cudaEventCreate(event); }

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete reinterpret_cast<EmuEvent*>(event);
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t) {
  reinterpret_cast<EmuEvent*>(event)->at = Clock::now();
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  const auto d = reinterpret_cast<EmuEvent*>(end)->at - reinterpret_cast<EmuEvent*>(start)->at;
  *ms = std::chrono::duration<float, std::milli>(d).count();
  return cudaSuccess;
}

}  // extern "C"
