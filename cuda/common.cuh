// Shared helpers of the CUDA kernels: the stream and cuBLAS handle, checked launches, launch
// sizes, warp/block reductions, exactly-rounded arithmetic, and a device-side error flag.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>
#include <limits>

#include "xclip/core/error.hpp"
#include "xclip/cuda/runtime.hpp"
#include "xclip/kernels/cuda.hpp"

namespace xclip::cuda {

inline cudaStream_t cuda_stream() { return static_cast<cudaStream_t>(stream()); }
cublasHandle_t cublas_handle();  // created on first use, bound to cuda_stream() (cuda/context.cu)

// Throws xclip::Error "<file>:<line>: <call>: <cuBLAS status string>" unless CUBLAS_STATUS_SUCCESS.
void check_cublas(cublasStatus_t status, const char* call, const char* file, int line);

}  // namespace xclip::cuda

#define XCLIP_CUBLAS_CHECK(call) ::xclip::cuda::check_cublas((call), #call, __FILE__, __LINE__)
// After every <<<...>>> launch: catches bad configurations (and earlier asynchronous faults).
#define XCLIP_CUDA_LAUNCH_CHECK() XCLIP_CUDA_CHECK(cudaGetLastError())

namespace xclip::cuda::detail {

constexpr int kThreads = 256;  // default block size of the elementwise kernels

// Blocks for a grid-stride loop over n items; capped so huge n still launches (the loop covers the rest).
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  const int64_t blocks = (n + threads - 1) / threads;
  constexpr int64_t kMaxBlocks = int64_t(1) << 20;
  return unsigned(blocks < 1 ? 1 : (blocks > kMaxBlocks ? kMaxBlocks : blocks));
}

// Index of this thread in a 1-D grid-stride loop, and the loop step.
__device__ __forceinline__ int64_t global_index() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t global_stride() { return int64_t(gridDim.x) * blockDim.x; }

// Accumulator type: double for float (the CPU twins accumulate f32 sums in double), T otherwise.
template <class T> struct Acc { using type = double; };

// ---- reductions ---------------------------------------------------------------------------------
template <class A>
__device__ __forceinline__ A warp_sum(A v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  return v;  // complete in lane 0
}
template <class A>
__device__ __forceinline__ A warp_sum_all(A v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;  // complete in every lane
}
template <class A>
__device__ __forceinline__ A warp_max_all(A v) {
  for (int off = 16; off > 0; off >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, ≤ 1024); every thread gets the result.
// `scratch` holds 32 values; the function may be called repeatedly with the same scratch.
template <class A>
__device__ A block_sum(A v, A* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  A total = 0;
  for (int w = 0; w < warps; ++w) total += scratch[w];
  return total;
}

// ---- arithmetic rounded exactly like the CPU (no FMA contraction) ----------------------------------
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float sub_rn(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ double sub_rn(double a, double b) { return __dsub_rn(a, b); }
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float div_rn(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ double div_rn(double a, double b) { return __ddiv_rn(a, b); }
__device__ __forceinline__ float sqrt_rn(float a) { return __fsqrt_rn(a); }
__device__ __forceinline__ double sqrt_rn(double a) { return __dsqrt_rn(a); }

// ---- device-side bad-index report ---------------------------------------------------------------------
// A kernel that finds an invalid index records it here; the host then synchronises, reads the
// record and throws. Uses the caching allocator, so steady-state calls do no cudaMalloc.
struct IndexErrorRecord {
  unsigned long long count;  // number of bad indices seen
  long long value;           // one of them
};

__device__ __forceinline__ void report_bad_index(IndexErrorRecord* rec, int64_t value) {
  if (atomicAdd(&rec->count, 1ull) == 0ull) rec->value = (long long)value;
}

class IndexErrorFlag {
 public:
  IndexErrorFlag();  // allocates and zeroes the record on the stream
  ~IndexErrorFlag();
  IndexErrorFlag(const IndexErrorFlag&) = delete;
  IndexErrorFlag& operator=(const IndexErrorFlag&) = delete;
  IndexErrorRecord* device() const { return record_; }
  // Waits for the stream; returns true (and the bad value) when a kernel reported one.
  bool failed(int64_t* bad_value);

 private:
  IndexErrorRecord* record_ = nullptr;
};

// Device scratch memory from the caching allocator for the duration of one call. Releasing it
// before the queued kernels finish is safe: any later user of the block is queued behind them
// on the same stream (or on the legacy default stream, which waits for this one).
template <class T>
class Scratch {
 public:
  explicit Scratch(size_t count) : ptr_(static_cast<T*>(allocate(count * sizeof(T)))) {}
  ~Scratch() { release(ptr_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() const { return ptr_; }

 private:
  T* ptr_;
};

// ---- small fixed-size arrays passed by value to kernels ---------------------------------------------------
template <class T, int N>
struct Array {
  T v[N];
};

// Raw memory moved in the widest word that every address and size involved allows.
template <int Bytes> struct WordOf;
template <> struct WordOf<16> { using type = uint4; };
template <> struct WordOf<8> { using type = unsigned long long; };
template <> struct WordOf<4> { using type = unsigned int; };
template <> struct WordOf<2> { using type = unsigned short; };
template <> struct WordOf<1> { using type = unsigned char; };

// The largest of 16, 8, 4, 2, 1 dividing every value (byte sizes, pitches, pointer addresses).
inline int widest_word(std::initializer_list<uint64_t> values) {
  uint64_t bits = 16;
  for (uint64_t v : values) bits |= v;
  return int(bits & (~bits + 1));  // lowest set bit, at most 16
}

// Throws unless `value` fits in int (cuBLAS and some launch parameters take int).
inline int checked_int(int64_t value, const char* what) {
  XCLIP_CHECK(value >= 0 && value <= int64_t(std::numeric_limits<int>::max()), "cuda: ", what, " = ", value,
              " does not fit in int");
  return int(value);
}

}  // namespace xclip::cuda::detail
