// CPU GEMM: row-major C = alpha·op(A)·op(B) + beta·C, and its batched form.
// First version: straightforward loops, correct for every transpose/stride/beta case.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "xclip/kernels/cpu.hpp"

namespace xclip::cpu {

namespace {
std::atomic<int> g_threads{0};

template <class T>
T at(const T* X, int64_t ld, bool trans, int64_t r, int64_t c) {
  return trans ? X[c * ld + r] : X[r * ld + c];
}

template <class T>
void gemm_serial(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
                 int64_t ldb, T beta, T* C, int64_t ldc) {
  std::vector<T> row(static_cast<size_t>(N));
  for (int64_t i = 0; i < M; ++i) {
    std::fill(row.begin(), row.end(), T(0));
    for (int64_t k = 0; k < K; ++k) {
      const T a = at(A, lda, ta, i, k);
      for (int64_t j = 0; j < N; ++j) row[j] += a * at(B, ldb, tb, k, j);
    }
    T* c = C + i * ldc;
    for (int64_t j = 0; j < N; ++j) c[j] = beta == T(0) ? alpha * row[j] : alpha * row[j] + beta * c[j];
  }
}
}  // namespace

int num_threads() {
  const int n = g_threads.load();
  return n > 0 ? n : omp_get_max_threads();
}

void set_num_threads(int n) { g_threads.store(std::max(n, 0)); }

template <class T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc) {
  gemm_serial(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <class T>
void gemm_batched(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                  int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                  int64_t stride_c, int64_t batch) {
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (batch > 1)
  for (int64_t b = 0; b < batch; ++b)
    gemm_serial(ta, tb, M, N, K, alpha, A + b * stride_a, lda, B + b * stride_b, ldb, beta, C + b * stride_c, ldc);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);
template void gemm_batched<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t,
                                  const float*, int64_t, int64_t, float, float*, int64_t, int64_t, int64_t);
template void gemm_batched<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, int64_t,
                                   const double*, int64_t, int64_t, double, double*, int64_t, int64_t, int64_t);

}  // namespace xclip::cpu
