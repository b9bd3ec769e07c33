// CPU twin of the bf16 GEMM (cuda::gemm_bf16 / gemm_batched_bf16): bf16 operands, f32 result.
//
// Each operand's addressed span is widened to f32 once (bf16 -> f32 is exact) and handed to the
// f32 GEMM with the same strides. Every product of two bf16 values has at most 16 significant
// bits, so it is exact in f32 and the result differs from a tensor-core bf16 GEMM with f32
// accumulation only in the order of the additions.
#include <vector>

#include "xclip/core/error.hpp"
#include "xclip/kernels/cpu.hpp"

namespace xclip::cpu {

namespace {

// Elements from the first to one past the last element a strided batch of [rows, cols] matrices
// (row stride ld, matrix stride `stride`) reads.
int64_t addressed_span(int64_t rows, int64_t cols, int64_t ld, int64_t stride, int64_t batch) {
  if (rows == 0 || cols == 0 || batch == 0) return 0;
  return (batch - 1) * stride + (rows - 1) * ld + cols;
}

std::vector<float> widen(const bf16_t* x, int64_t n) {
  std::vector<float> out(size_t(n > 0 ? n : 0));
#pragma omp parallel for schedule(static) if (n > (int64_t(1) << 16))
  for (int64_t i = 0; i < n; ++i) out[size_t(i)] = bf16_to_float(x[i]);
  return out;
}

}  // namespace

void gemm_batched_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16_t* A,
                       int64_t lda, int64_t stride_a, const bf16_t* B, int64_t ldb, int64_t stride_b, float beta,
                       float* C, int64_t ldc, int64_t stride_c, int64_t batch) {
  XCLIP_CHECK(M >= 0 && N >= 0 && K >= 0 && batch >= 0 && stride_a >= 0 && stride_b >= 0,
              "gemm_batched_bf16: negative size M=", M, " N=", N, " K=", K, " batch=", batch);
  const std::vector<float> a = widen(A, addressed_span(ta ? K : M, ta ? M : K, lda, stride_a, batch));
  const std::vector<float> b = widen(B, addressed_span(tb ? N : K, tb ? K : N, ldb, stride_b, batch));
  gemm_batched<float>(ta, tb, M, N, K, alpha, a.data(), lda, stride_a, b.data(), ldb, stride_b, beta, C, ldc,
                      stride_c, batch);
}

void gemm_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16_t* A, int64_t lda,
               const bf16_t* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_batched_bf16(ta, tb, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

}  // namespace xclip::cpu
