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
// Order-dependent kernels (bugs on a GPU), whose results the reverse run order changes:
// out[t] = t + 1 of a block after each thread wrote its index to shared memory, with or without
// the __syncthreads between the write and the read; and out[b] = out[b − 1] + 1 across blocks.
cudaError_t read_neighbour(int* out, int threads, bool barrier);
cudaError_t chain_blocks(int* out, int blocks);
// The emulator's run order (tests/cuda_emu/cuda_emu.hpp), for the tests that compare orders.
void set_reverse_order(bool reverse);
bool reverse_order();
// Misuses that must stop the process with a cuda-emu message:
cudaError_t divergent_barrier();      // __syncthreads reached by half the block
cudaError_t shuffle_after_return();   // a lane returns before a full-mask shuffle
cudaError_t partial_warp_shuffle();   // a full-mask shuffle in a block of 40 threads
cudaError_t misaligned_vector_load(); // a uint4 read at an address that is 4 bytes past 16
cudaError_t host_pointer_argument();  // a kernel given a pointer to host memory

}  // namespace xclip_emu_selftest
