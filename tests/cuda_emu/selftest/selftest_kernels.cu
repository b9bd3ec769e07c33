// The emulator's self-test kernels (declared in selftest_kernels.hpp), written as ordinary CUDA.
#include "selftest_kernels.hpp"

namespace xclip_emu_selftest {

namespace {

__global__ void block_sums_kernel(const float* x, float* out) {
  __shared__ float s[1024];
  const int t = threadIdx.x;
  s[t] = x[blockIdx.x * blockDim.x + t];
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (t < half) s[t] += s[t + half];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = s[0];
}

__global__ void warp_sums_kernel(const float* x, float* out) {
  const int i = threadIdx.x;
  float v = x[i];
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  const float next = __shfl_down_sync(0xffffffffu, x[i], 1);
  out[i] = v + ((i & 31) < 31 ? next : 0.0f);
}

__global__ void block_any_kernel(const float* x, int* out) {
  const int any = __syncthreads_or(x[blockIdx.x * blockDim.x + threadIdx.x] != 0.0f);
  if (threadIdx.x == 0) out[blockIdx.x] = any;
}

__global__ void write_thread_ids_kernel(int* out) { out[threadIdx.x] = int(threadIdx.x); }

__global__ void dynamic_shared_kernel(int* out, int n) {
  extern __shared__ int dyn[];
  for (int i = threadIdx.x; i < n; i += blockDim.x) dyn[i] = i;
  __syncthreads();
  if (threadIdx.x == 0) out[0] = dyn[n - 1];
}

__global__ void read_neighbour_kernel(int* out, bool barrier) {
  extern __shared__ int slots[];
  const int t = int(threadIdx.x);
  slots[t] = t;
  if (barrier) __syncthreads();
  out[t] = slots[(t + 1) % int(blockDim.x)];
}

__global__ void chain_blocks_kernel(int* out) {
  if (threadIdx.x == 0) out[blockIdx.x] = blockIdx.x == 0 ? 1 : out[blockIdx.x - 1] + 1;
}

__global__ void divergent_barrier_kernel() {
  if (threadIdx.x < 16) __syncthreads();
}

__global__ void shuffle_after_return_kernel(float* out) {
  if (threadIdx.x == 3) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, float(threadIdx.x), 3);
}

__global__ void partial_warp_shuffle_kernel(float* out) {
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, float(threadIdx.x), 1);
}

__global__ void vector_copy_kernel(const unsigned char* src, uint4* dst) {
  dst[threadIdx.x] = reinterpret_cast<const uint4*>(src)[threadIdx.x];
}

}  // namespace

cudaError_t block_sums(const float* x, float* out, int blocks, int threads) {
  block_sums_kernel<<<blocks, threads>>>(x, out);
  return cudaGetLastError();
}

cudaError_t warp_sums(const float* x, float* out, int threads) {
  warp_sums_kernel<<<1, threads>>>(x, out);
  return cudaGetLastError();
}

cudaError_t block_any(const float* x, int* out, int blocks, int threads) {
  block_any_kernel<<<blocks, threads>>>(x, out);
  return cudaGetLastError();
}

cudaError_t write_thread_ids(int* out, int threads) {
  write_thread_ids_kernel<<<1, threads>>>(out);
  return cudaGetLastError();
}

cudaError_t use_dynamic_shared(int* out, int bytes, bool opt_in) {
  if (opt_in) {
    const cudaError_t e = cudaFuncSetAttribute(dynamic_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    if (e != cudaSuccess) return e;
  }
  dynamic_shared_kernel<<<1, 64, size_t(bytes)>>>(out, bytes / int(sizeof(int)));
  return cudaGetLastError();
}

cudaError_t read_neighbour(int* out, int threads, bool barrier) {
  read_neighbour_kernel<<<1, threads, size_t(threads) * sizeof(int)>>>(out, barrier);
  return cudaGetLastError();
}

cudaError_t chain_blocks(int* out, int blocks) {
  cudaMemset(out, 0, size_t(blocks) * sizeof(int));
  chain_blocks_kernel<<<blocks, 32>>>(out);
  return cudaGetLastError();
}

void set_reverse_order(bool reverse) { xclip_emu::set_reverse_order(reverse); }
bool reverse_order() { return xclip_emu::reverse_order_enabled(); }

cudaError_t divergent_barrier() {
  divergent_barrier_kernel<<<1, 64>>>();
  return cudaGetLastError();
}

cudaError_t shuffle_after_return() {
  float* out = nullptr;
  cudaMalloc(&out, 32 * sizeof(float));
  shuffle_after_return_kernel<<<1, 32>>>(out);
  return cudaGetLastError();
}

cudaError_t partial_warp_shuffle() {
  float* out = nullptr;
  cudaMalloc(&out, 40 * sizeof(float));
  partial_warp_shuffle_kernel<<<1, 40>>>(out);
  return cudaGetLastError();
}

cudaError_t misaligned_vector_load() {
  unsigned char* src = nullptr;
  uint4* dst = nullptr;
  cudaMalloc(reinterpret_cast<void**>(&src), 16 * 32 + 16);
  cudaMalloc(reinterpret_cast<void**>(&dst), 16 * 32);
  vector_copy_kernel<<<1, 32>>>(src + 4, dst);
  return cudaGetLastError();
}

cudaError_t host_pointer_argument() {
  static int host[32];
  write_thread_ids_kernel<<<1, 32>>>(host);
  return cudaGetLastError();
}

}  // namespace xclip_emu_selftest
