// CPU emulation of the CUDA kernel language, force-included (-include) into every cuda/*.cu and
// cuda/*.cuh file when the project is configured with -DXCLIP_CUDA_EMULATION=ON. Those files are
// first copied to the build tree by tests/cuda_emu/translate.cmake, which rewrites each launch
//     kernel<<<grid, block, shared_bytes, stream>>>(args...)
// into
//     kernel | ::xclip_emu::LaunchConfig(__FILE__, __LINE__, grid, block, shared_bytes, stream)(args...)
// and each `extern __shared__ T name[];` into a pointer to the launch's dynamic shared memory.
// The sources are otherwise compiled unchanged by the host C++ compiler, against the toolkit's own
// headers for every type and prototype; tests/cuda_emu/emu_runtime.cpp and emu_cublas.cpp define
// the CUDA runtime and cuBLAS functions the backend calls, so nothing links libcudart or cuBLAS.
//
// What it is for: running the cuda-labelled tests on a machine without a GPU, so every kernel's
// index arithmetic, launch configuration, barriers and warp shuffles execute and are compared with
// the CPU twins. Each CUDA thread of a block is a fiber (tests/cuda_emu/emu_scheduler.cpp); a
// barrier or shuffle switches fibers, and a barrier that not every live thread of its scope reaches,
// or a full-mask shuffle in a warp with a missing lane, stops the process with a message.
// Device allocations are kept inaccessible outside kernels, copies and GEMMs, so host code that
// reads or writes device memory crashes here as it would on a GPU; a kernel's pointer arguments
// must point into device memory (or be null), as a host pointer faults on a GPU.
// Threads run one after another; XCLIP_EMU_ORDER=reverse runs blocks and threads last to first
// (make test runs the cuda tests both ways), so a result that depends on the order changes.
// The translated sources are built with -fsanitize=alignment, so a misaligned vector access (a
// fault on a GPU) stops the run too.
// What it is not: a GPU. Races that no order exposes, the memory model, asynchronous stream
// ordering and speed are not tested; that still needs a GPU run.
#pragma once
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- the kernel language's keywords, as host C++ ----------------------------------------------------
#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __launch_bounds__
#undef __shared__
#undef __align__
#undef __constant__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static thread_local  // one copy per block: a block's fibers share an OS thread
#define __align__(n) alignas(n)
#define __constant__ static

namespace xclip_emu {

// The running fiber's built-in variables (set by the scheduler before each switch).
extern thread_local uint3 tls_thread_idx;
extern thread_local uint3 tls_block_idx;
extern thread_local dim3 tls_block_dim;
extern thread_local dim3 tls_grid_dim;

// Launch of one kernel: validates the configuration as the driver does (setting the error that
// cudaGetLastError returns), then runs every block, each with one fiber per thread.
struct LaunchConfig;
void run_grid(const LaunchConfig& config, const void* kernel_key, void (*body)(void*), void* closure);

struct LaunchConfig {
  const char* file;  // the launch site, for messages
  int line;
  dim3 grid, block;
  size_t shared_bytes = 0;
  cudaStream_t stream = nullptr;

  template <class G, class B, class S = int, class St = cudaStream_t>
  LaunchConfig(const char* file_, int line_, G g, B b, S shared = 0, St s = nullptr)
      : file(file_), line(line_), grid(to_dim3(g)), block(to_dim3(b)), shared_bytes(size_t(shared)) {
    if constexpr (std::is_pointer_v<St>) stream = s;
  }

  // The launched arguments, held until `kernel | pending` runs the grid.
  template <class... A>
  struct Pending {
    const LaunchConfig* config;
    std::tuple<A...> args;
  };
  template <class... A>
  Pending<std::decay_t<A>...> operator()(A&&... args) const {
    return {this, std::tuple<std::decay_t<A>...>(std::forward<A>(args)...)};
  }

 private:
  template <class D>
  static dim3 to_dim3(D d) {
    if constexpr (std::is_same_v<D, dim3>)
      return d;
    else
      return dim3(unsigned(d));
  }
};

// Stops the process unless `p` is null or points into device memory: a kernel given a host
// pointer faults on a GPU, while here host memory would be readable.
void check_kernel_pointer(const void* p, int index, const LaunchConfig& config);

template <class... P, class... A>
void operator|(void (*kernel)(P...), LaunchConfig::Pending<A...> pending) {
  int index = 0;
  auto check = [&](const auto& arg) {
    using T = std::decay_t<decltype(arg)>;
    if constexpr (std::is_pointer_v<T> && std::is_object_v<std::remove_pointer_t<T>>)
      check_kernel_pointer(static_cast<const void*>(arg), index, *pending.config);
    ++index;
  };
  std::apply([&](const auto&... args) { (check(args), ...); }, pending.args);
  // The kernel's parameters, converted from the arguments as a <<<...>>> launch converts them.
  struct Closure {
    void (*kernel)(P...);
    std::tuple<A...>* args;
    static void run(void* self) {
      auto* c = static_cast<Closure*>(self);
      std::apply([c](auto&... a) { c->kernel(static_cast<P>(a)...); }, *c->args);
    }
  };
  static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong number of arguments");
  Closure closure{kernel, &pending.args};
  run_grid(*pending.config, reinterpret_cast<const void*>(kernel), &Closure::run, &closure);
}

// ---- synchronisation, shared memory, warp exchange (emu_scheduler.cpp) -----------------------------------
void sync_block();
void sync_warp();
int sync_block_or(int predicate);
void* dynamic_shared();
// Lane `src_lane`'s `bytes` bytes at `value`, after every lane of the warp has offered its own.
void warp_exchange(const void* value, void* out, size_t bytes, int src_lane);
int lane_id();
// Blocks, and each round's threads, last to first (default: XCLIP_EMU_ORDER=reverse or not).
void set_reverse_order(bool reverse);
bool reverse_order_enabled();
// Stops the process with a message naming the running kernel, block and thread.
[[noreturn]] void fail(const char* what);

}  // namespace xclip_emu

// The runtime header's typed overload, which it declares for nvcc only.
template <class... P>
cudaError_t cudaFuncSetAttribute(void (*kernel)(P...), cudaFuncAttribute attr, int value) {
  return ::cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), attr, value);
}

#define threadIdx (::xclip_emu::tls_thread_idx)
#define blockIdx (::xclip_emu::tls_block_idx)
#define blockDim (::xclip_emu::tls_block_dim)
#define gridDim (::xclip_emu::tls_grid_dim)
#define warpSize 32

inline void __syncthreads() { ::xclip_emu::sync_block(); }
inline int __syncthreads_or(int predicate) { return ::xclip_emu::sync_block_or(predicate); }
inline void __syncwarp(unsigned = 0xffffffffu) { ::xclip_emu::sync_warp(); }

template <class T>
T __shfl_xor_sync(unsigned, T value, int lane_mask, int width = 32) {
  if (width != 32) ::xclip_emu::fail("__shfl_xor_sync with a width other than 32 is not emulated");
  T out;
  ::xclip_emu::warp_exchange(&value, &out, sizeof(T), (::xclip_emu::lane_id() ^ lane_mask) & 31);
  return out;
}
template <class T>
T __shfl_down_sync(unsigned, T value, unsigned delta, int width = 32) {
  if (width != 32) ::xclip_emu::fail("__shfl_down_sync with a width other than 32 is not emulated");
  T out;
  const int lane = ::xclip_emu::lane_id();
  ::xclip_emu::warp_exchange(&value, &out, sizeof(T), lane + int(delta) < 32 ? lane + int(delta) : lane);
  return out;
}

// Threads of one block never run at the same time here, so a read-modify-write is atomic.
template <class T>
T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}
template <class T>
T atomicMin(T* address, T value) {
  const T old = *address;
  if (value < old) *address = value;
  return old;
}

// Exactly rounded arithmetic: the host compiler is told not to contract (-ffp-contract=off).
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __dsqrt_rn(double a) { return std::sqrt(a); }

// The device library's overloads that device code calls unqualified.
using std::isnan;
using std::max;
using std::min;
