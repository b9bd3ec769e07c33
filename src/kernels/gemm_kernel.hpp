// Private to the GEMM: the instruction-set-specific pieces (register-tile micro-kernel and the
// packing routines) behind one table, so the blocked driver in gemm.cpp is written once.
//
// Every variant lives in its own translation unit compiled for its instruction set with
// `#pragma GCC target` (gemm_avx512.cpp, gemm_avx2.cpp, gemm_generic.cpp); gemm.cpp picks one at
// run time from what the CPU reports, so the default build runs on any x86-64.
#pragma once
#include <cstdint>

namespace xclip::cpu::gemm_detail {

// Packed layouts (the contract between driver, packers and micro-kernel):
//   A block of m rows × kc: ceil(m/mr) panels, panel p holds rows p·mr… as [kc][mr]
//   B block of kc × n cols: ceil(n/nr) panels, panel q holds cols q·nr… as [kc][nr]
// Rows/columns past the matrix edge are zero-filled, so the micro-kernel always runs full tiles.
template <class T>
struct GemmKernel {
  const char* name;  // "avx512", "avx2" or "generic"
  int mr, nr;        // register tile
  double slowdown;   // time per useful multiply-add relative to the family's fastest tile (≥ 1)
  int64_t mc, kc, nc;  // cache blocks: mc a multiple of mr, nc a multiple of nr
  // C[rows×cols] = alpha·(A panel · B panel) + beta·C over kc steps, rows ≤ mr, cols ≤ nr (less on
  // the matrix edge); beta == 0 writes C without reading it.
  void (*tile)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha, T beta, int rows, int cols);
  // Packs op(A)[i0 : i0+m, k0 : k0+kc] (op(A) = A, or Aᵀ when trans: A is then stored [K, M]).
  void (*pack_a)(bool trans, const T* A, int64_t lda, int64_t i0, int64_t m, int64_t k0, int64_t kc, T* dst);
  // Packs op(B)[k0 : k0+kc, j0 : j0+n] (op(B) = B, or Bᵀ when trans: B is then stored [N, K]).
  void (*pack_b)(bool trans, const T* B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0, int64_t n, T* dst);
};

// One instruction set's tiles for one type: the same packing/blocking with different tile heights
// (mr), so a product with few rows need not pad them up to a tall tile. All tiles of a family
// share kc and sum every element in the same order, so they give bitwise identical results.
template <class T>
struct GemmKernelFamily {
  const GemmKernel<T>* tiles;  // tallest first
  int count;
};

// The families. The avx512/avx2 ones must only be used when the CPU supports them.
GemmKernelFamily<float> generic_kernels_f32();
GemmKernelFamily<double> generic_kernels_f64();
GemmKernelFamily<float> avx2_kernels_f32();
GemmKernelFamily<double> avx2_kernels_f64();
GemmKernelFamily<float> avx512_kernels_f32();
GemmKernelFamily<double> avx512_kernels_f64();

// Instruction-set selection: "avx512", "avx2", "generic", or "" for the best the CPU supports
// (the default; the environment variable XCLIP_GEMM_ISA overrides it at the first call).
// Returns false, changing nothing, when the CPU lacks the requested set. For tests and benchmarks.
bool select_isa(const char* name);
const char* selected_isa();

}  // namespace xclip::cpu::gemm_detail
