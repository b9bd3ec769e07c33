// Row-major GEMMs through cuBLAS (column-major): C = op(A)·op(B) row-major is, read column-major,
// Cᵀ = op(B)ᵀ·op(A)ᵀ, and a row-major matrix with leading dimension ld is its own transpose
// column-major with the same ld. So we call cuBLAS with the operands swapped, m = N, n = M, and the
// same transpose flags.
#include <cuda_bf16.h>

#include <algorithm>

#include "common.cuh"

namespace xclip::cuda {

namespace {

// How one element type maps onto cublasGemmEx.
struct GemmTypes {
  cudaDataType_t ab;      // A and B
  cudaDataType_t c;       // C
  cublasComputeType_t compute;
};

template <class T> GemmTypes gemm_types();
template <> GemmTypes gemm_types<float>() {
  return {CUDA_R_32F, CUDA_R_32F, allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F};
}
template <> GemmTypes gemm_types<double>() { return {CUDA_R_64F, CUDA_R_64F, CUBLAS_COMPUTE_64F}; }
template <> GemmTypes gemm_types<bf16_t>() { return {CUDA_R_16BF, CUDA_R_32F, CUBLAS_COMPUTE_32F}; }

// The scalar type of alpha/beta for an input type (f32 for bf16: the compute type).
template <class T> struct Scalar { using type = T; };
template <> struct Scalar<bf16_t> { using type = float; };

// C[i, j] ← beta·C[i, j] over an M×N row-major block (beta == 0 writes 0 without reading): the
// K == 0 case, which cuBLAS would reject when A or B has a zero leading dimension.
template <class C>
__global__ void scale_matrix_kernel(C* c, int64_t M, int64_t N, int64_t ldc, int64_t stride_c, int64_t batch,
                                    C beta) {
  const int64_t total = M * N * batch;
  for (int64_t t = detail::global_index(); t < total; t += detail::global_stride()) {
    const int64_t b = t / (M * N), r = (t / N) % M, col = t % N;
    C* p = c + b * stride_c + r * ldc + col;
    *p = beta == C(0) ? C(0) : beta * *p;
  }
}

struct GemmShape {
  bool trans_a, trans_b;
  int64_t M, N, K, lda, ldb, ldc;
};

// Leading dimensions as cuBLAS wants them: at least the row length of the stored matrix.
void check_gemm_shape(const GemmShape& s, const char* who) {
  XCLIP_CHECK(s.M >= 0 && s.N >= 0 && s.K >= 0, who, ": negative size M=", s.M, " N=", s.N, " K=", s.K);
  const int64_t a_cols = s.trans_a ? s.M : s.K, b_cols = s.trans_b ? s.K : s.N;
  XCLIP_CHECK(s.lda >= std::max<int64_t>(1, a_cols) && s.ldb >= std::max<int64_t>(1, b_cols) &&
                  s.ldc >= std::max<int64_t>(1, s.N),
              who, ": leading dimensions lda=", s.lda, " ldb=", s.ldb, " ldc=", s.ldc, " too small for M=", s.M,
              " N=", s.N, " K=", s.K, (s.trans_a ? " (A transposed)" : ""), (s.trans_b ? " (B transposed)" : ""));
}

template <class T, class C, class S>
void gemm_strided(const char* who, const GemmShape& s, S alpha, const T* A, int64_t stride_a, const T* B,
                  int64_t stride_b, S beta, C* c, int64_t stride_c, int64_t batch) {
  XCLIP_CHECK(batch >= 0, who, ": negative batch ", batch);
  if (s.M == 0 || s.N == 0 || batch == 0) return;
  if (s.K == 0) {
    XCLIP_CHECK(s.ldc >= s.N, who, ": ldc=", s.ldc, " < N=", s.N);
    const int64_t total = s.M * s.N * batch;
    scale_matrix_kernel<C><<<detail::grid_for(total), detail::kThreads, 0, cuda_stream()>>>(
        c, s.M, s.N, s.ldc, stride_c, batch, C(beta));
    XCLIP_CUDA_LAUNCH_CHECK();
    return;
  }
  check_gemm_shape(s, who);
  const GemmTypes types = gemm_types<T>();
  const cublasOperation_t op_a = s.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = s.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = detail::checked_int(s.N, "GEMM N"), n = detail::checked_int(s.M, "GEMM M");
  const int k = detail::checked_int(s.K, "GEMM K");
  const int lda = detail::checked_int(s.lda, "GEMM lda"), ldb = detail::checked_int(s.ldb, "GEMM ldb");
  const int ldc = detail::checked_int(s.ldc, "GEMM ldc");
  cublasHandle_t h = cublas_handle();
  if (batch == 1) {
    XCLIP_CUBLAS_CHECK(cublasGemmEx(h, op_b, op_a, m, n, k, &alpha, B, types.ab, ldb, A, types.ab, lda, &beta, c,
                                    types.c, ldc, types.compute, CUBLAS_GEMM_DEFAULT));
  } else {
    XCLIP_CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, op_b, op_a, m, n, k, &alpha, B, types.ab, ldb, stride_b, A,
                                                  types.ab, lda, stride_a, &beta, c, types.c, ldc, stride_c,
                                                  detail::checked_int(batch, "GEMM batch"), types.compute,
                                                  CUBLAS_GEMM_DEFAULT));
  }
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  gemm_strided<T, T, T>("cuda::gemm", {trans_a, trans_b, M, N, K, lda, ldb, ldc}, alpha, A, 0, B, 0, beta, C, 0, 1);
}

template <class T>
void gemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                  int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                  int64_t stride_c, int64_t batch) {
  gemm_strided<T, T, T>("cuda::gemm_batched", {trans_a, trans_b, M, N, K, lda, ldb, ldc}, alpha, A, stride_a, B,
                        stride_b, beta, C, stride_c, batch);
}

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const bf16_t* A,
               int64_t lda, const bf16_t* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_strided<bf16_t, float, float>("cuda::gemm_bf16", {trans_a, trans_b, M, N, K, lda, ldb, ldc}, alpha, A, 0, B,
                                     0, beta, C, 0, 1);
}

void gemm_batched_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const bf16_t* A,
                       int64_t lda, int64_t stride_a, const bf16_t* B, int64_t ldb, int64_t stride_b, float beta,
                       float* C, int64_t ldc, int64_t stride_c, int64_t batch) {
  gemm_strided<bf16_t, float, float>("cuda::gemm_batched_bf16", {trans_a, trans_b, M, N, K, lda, ldb, ldc}, alpha,
                                     A, stride_a, B, stride_b, beta, C, stride_c, batch);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);
template void gemm_batched<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t,
                                  const float*, int64_t, int64_t, float, float*, int64_t, int64_t, int64_t);
template void gemm_batched<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, int64_t,
                                   const double*, int64_t, int64_t, double, double*, int64_t, int64_t, int64_t);

}  // namespace xclip::cuda
