// Kernels that check the CUDA emulator itself (tests/cuda_emu/selftest/selftest_kernels.cu):
// barriers, shuffles and shared memory give CUDA's results, and the misuses it promises to stop
// do stop it. Each launcher returns cudaGetLastError() after its launch.
#pragma once
#include <cuda_runtime.h>

namespace xclip_emu_selftest {

// out[b] = Σ x over block b's `threads` elements (tree reduction in shared memory, __syncthreads).
cudaError_t block_sums(const float* x, float* out, int blocks, int threads);
// out[i] = Σ over i's warp of x (butterfly __shfl_xor_sync) + x of lane i+1 (__shfl_down_sync).
cudaError_t warp_sums(const float* x, float* out, int threads);
// Per block, the OR of (x[i] != 0) over its threads (__syncthreads_or).
cudaError_t block_any(const float* x, int* out, int blocks, int threads);
// Writes threadIdx.x into out[threadIdx.x] with a block of `threads` (tests the size limit).
cudaError_t write_thread_ids(int* out, int threads);
// A kernel with `bytes` of dynamic shared memory, optionally after raising the limit.
cudaError_t use_dynamic_shared(int* out, int bytes, bool opt_in);
// Misuses that must stop the process with a cuda-emu message:
cudaError_t divergent_barrier();      // __syncthreads reached by half the block
cudaError_t shuffle_after_return();   // a lane returns before a full-mask shuffle
cudaError_t partial_warp_shuffle();   // a full-mask shuffle in a block of 40 threads

}  // namespace xclip_emu_selftest
