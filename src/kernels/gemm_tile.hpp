// Private to the GEMM: the micro-kernel and packing templates, written once over a small
// vector-operations type V (V::T element, V::reg register, V::W lanes, load/store/bcast/fma/mul,
// fma1 = one lane of fma, and V::TB > 0 with V::transpose when it has an in-register TB×TB
// transpose for the packers).
//
// Included by each instruction-set translation unit AFTER its `#pragma GCC target(...)`, so the
// code is compiled for that set. Everything here sits in an anonymous namespace on purpose: each
// translation unit gets its own private copy, and no avx512 instantiation can be merged by the
// linker into code that runs on a CPU without avx512.
#pragma once
#include <cstdint>
#include <cstring>

#include "gemm_kernel.hpp"

namespace xclip::cpu::gemm_detail {
namespace {

// The register tile: MR rows × NV vectors of C held in registers for the whole kc loop.
// Each step broadcasts one packed A value per row and multiplies it into NV packed B vectors.
// A tile on the matrix edge (rows < MR or cols < NR) computes in full (the packed operands are
// zero-padded) and writes only its valid part, with the same arithmetic as a full tile.
template <class V, int MR, int NV>
void tile_kernel(int64_t kc, const typename V::T* a, const typename V::T* b, typename V::T* c, int64_t ldc,
                 typename V::T alpha, typename V::T beta, int rows, int cols) {
  using T = typename V::T;
  using R = typename V::reg;
  constexpr int W = V::W;
  R acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) acc[i][j] = V::zero();
  // Warm the C rows the tile will update (they are usually cold; the loop below is long).
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) __builtin_prefetch(c + i * ldc, 1, 3);
  for (int64_t k = 0; k < kc; ++k) {
    R bv[NV];
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) bv[j] = V::load(b + j * W);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const R av = V::bcast(a + i);
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) acc[i][j] = V::fma(av, bv[j], acc[i][j]);
    }
    a += MR;
    b += NV * W;
  }
  const R va = V::set1(alpha);
  if (rows < MR || cols < NV * W) {
    alignas(64) T buf[MR * NV * W];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) V::store(buf + (i * NV + j) * W, V::mul(va, acc[i][j]));
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j) {
        T* p = c + i * ldc + j;
        const T v = buf[i * NV * W + j];
        *p = beta == T(0) ? v : V::fma1(beta, *p, v);
      }
    return;
  }
  if (beta == T(0)) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) V::store(c + i * ldc + j * W, V::mul(va, acc[i][j]));
  } else {
    const R vb = V::set1(beta);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) {
        T* p = c + i * ldc + j * W;
        V::store(p, V::fma(vb, V::load(p), V::mul(va, acc[i][j])));
      }
  }
}

// dst[k·P + r] = src[r·stride + k] for r < rows (≤ P), zero for rows ≤ r < P: gathers P
// rows that are each contiguous along k into a k-major panel (A untransposed, B transposed).
// Full panels go through TB×TB in-register transposes where V has them.
template <class V, int P>
void pack_strided_rows(const typename V::T* src, int64_t stride, int rows, int64_t kc, typename V::T* dst) {
  using T = typename V::T;
  if (rows < P) {
    for (int64_t k = 0; k < kc; ++k) {
      for (int r = 0; r < rows; ++r) dst[k * P + r] = src[r * stride + k];
      for (int r = rows; r < P; ++r) dst[k * P + r] = T(0);
    }
    return;
  }
  int64_t k_done = 0;
  if constexpr (V::TB > 0) {
    // Row block by row block (TB source rows streamed at a time), whole TB×TB blocks along k.
    constexpr int TB = V::TB, covered = P / TB * TB;
    const int64_t k_blocks = kc / TB * TB;
    for (int r = 0; r < covered; r += TB)
      for (int64_t k = 0; k < k_blocks; k += TB) V::transpose(src + r * stride + k, stride, dst + k * P + r, P);
    for (int r = covered; r < P; ++r)
      for (int64_t k = 0; k < k_blocks; ++k) dst[k * P + r] = src[r * stride + k];
    k_done = k_blocks;
  }
  for (int64_t k = k_done; k < kc; ++k)
    for (int r = 0; r < P; ++r) dst[k * P + r] = src[r * stride + k];
}

// dst[k·P + r] = src[k·stride + r] for r < cols (≤ P), zero beyond: copies P contiguous values
// per k (A transposed, B untransposed).
template <class T, int P>
void pack_contiguous_cols(const T* src, int64_t stride, int cols, int64_t kc, T* dst) {
  if (cols == P) {
    for (int64_t k = 0; k < kc; ++k) std::memcpy(dst + k * P, src + k * stride, sizeof(T) * P);
    return;
  }
  for (int64_t k = 0; k < kc; ++k) {
    std::memcpy(dst + k * P, src + k * stride, sizeof(T) * size_t(cols));
    for (int r = cols; r < P; ++r) dst[k * P + r] = T(0);
  }
}

template <class V, int MR, class T = typename V::T>
void pack_a(bool trans, const T* A, int64_t lda, int64_t i0, int64_t m, int64_t k0, int64_t kc, T* dst) {
  for (int64_t p = 0; p < m; p += MR, dst += MR * kc) {
    const int rows = int(m - p < MR ? m - p : MR);
    if (trans)
      pack_contiguous_cols<T, MR>(A + k0 * lda + i0 + p, lda, rows, kc, dst);
    else
      pack_strided_rows<V, MR>(A + (i0 + p) * lda + k0, lda, rows, kc, dst);
  }
}

template <class V, int NR, class T = typename V::T>
void pack_b(bool trans, const T* B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0, int64_t n, T* dst) {
  for (int64_t q = 0; q < n; q += NR, dst += NR * kc) {
    const int cols = int(n - q < NR ? n - q : NR);
    if (trans)
      pack_strided_rows<V, NR>(B + (j0 + q) * ldb + k0, ldb, cols, kc, dst);
    else
      pack_contiguous_cols<T, NR>(B + k0 * ldb + j0 + q, ldb, cols, kc, dst);
  }
}

// The table entry for one (vector type, tile shape, cache blocks) choice; mc is rounded down to
// whole tiles.
template <class V, int MR, int NV>
constexpr GemmKernel<typename V::T> make_kernel(const char* name, double slowdown, int64_t mc, int64_t kc,
                                                int64_t nc) {
  return GemmKernel<typename V::T>{name,
                                   MR,
                                   NV * V::W,
                                   slowdown,
                                   mc / MR * MR,
                                   kc,
                                   nc,
                                   &tile_kernel<V, MR, NV>,
                                   &pack_a<V, MR>,
                                   &pack_b<V, NV * V::W>};
}

}  // namespace
}  // namespace xclip::cpu::gemm_detail
