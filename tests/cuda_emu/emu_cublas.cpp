// The cuBLAS functions the backend calls (cuda/context.cu, cuda/gemm.cu), defined on the CPU for
// the emulator build. The GEMMs check their arguments as cuBLAS documents it (sizes, leading
// dimensions, the supported type/compute-type combinations, pointer mode) and return cuBLAS'
// status codes, then compute column-major C = alpha·op(A)·op(B) + beta·C with double sums:
// CUBLAS_COMPUTE_32F_FAST_TF32 first rounds A and B to TF32 (10 mantissa bits), as the tensor
// cores do, so the tests' TF32 tolerances are exercised. beta == 0 does not read C.
#include <cublas_v2.h>
#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "emu_internal.hpp"

struct cublasContext {
  cudaStream_t stream = nullptr;
  cublasPointerMode_t pointer_mode = CUBLAS_POINTER_MODE_HOST;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

namespace {

// Round to nearest even at TF32's 10 explicit mantissa bits (finite values; inf/NaN unchanged).
float round_tf32(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) == 0x7f800000u) return x;
  const uint32_t lsb = (u >> 13) & 1u;
  u = (u + 0xfffu + lsb) & ~0x1fffu;
  std::memcpy(&x, &u, 4);
  return x;
}

double load(const void* p, cudaDataType t, int64_t i, bool tf32) {
  switch (t) {
    case CUDA_R_32F: {
      const float v = static_cast<const float*>(p)[i];
      return tf32 ? double(round_tf32(v)) : double(v);
    }
    case CUDA_R_64F: return static_cast<const double*>(p)[i];
    case CUDA_R_16BF: return double(__bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]));
    default: return NAN;
  }
}

// The combinations cuda/gemm.cu uses; cuBLAS supports them (and many more).
bool supported(cudaDataType ab, cudaDataType c, cublasComputeType_t compute) {
  if (ab == CUDA_R_32F && c == CUDA_R_32F)
    return compute == CUBLAS_COMPUTE_32F || compute == CUBLAS_COMPUTE_32F_FAST_TF32;
  if (ab == CUDA_R_64F && c == CUDA_R_64F) return compute == CUBLAS_COMPUTE_64F;
  if (ab == CUDA_R_16BF && c == CUDA_R_32F) return compute == CUBLAS_COMPUTE_32F;
  return false;
}

size_t element_bytes(cudaDataType t) { return t == CUDA_R_64F ? 8 : t == CUDA_R_16BF ? 2 : 4; }

double scalar(const cublasContext* h, const void* p, cublasComputeType_t compute) {
  std::optional<xclip_emu::DeviceAccess> access;  // alpha/beta in device memory: open it to read
  if (h->pointer_mode == CUBLAS_POINTER_MODE_DEVICE) access.emplace();
  return compute == CUBLAS_COMPUTE_64F ? *static_cast<const double*>(p) : double(*static_cast<const float*>(p));
}

struct Operand {
  const void* data;
  cudaDataType type;
  int ld;
  long long stride;
  bool trans;
};

cublasStatus_t gemm(cublasContext* h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                    const void* alpha_p, Operand a, Operand b, const void* beta_p, void* c, cudaDataType ct, int ldc,
                    long long stride_c, int batch, cublasComputeType_t compute) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  if ((ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) || (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T))
    return CUBLAS_STATUS_INVALID_VALUE;
  a.trans = ta == CUBLAS_OP_T;
  b.trans = tb == CUBLAS_OP_T;
  const int a_rows = a.trans ? k : m, b_rows = b.trans ? n : k;
  if (m < 0 || n < 0 || k < 0 || batch < 0 || a.ld < std::max(1, a_rows) || b.ld < std::max(1, b_rows) ||
      ldc < std::max(1, m)) {
    std::fprintf(stderr, "cuda-emu: cuBLAS GEMM rejects m=%d n=%d k=%d lda=%d ldb=%d ldc=%d batch=%d\n", m, n, k,
                 a.ld, b.ld, ldc, batch);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (a.type != b.type || !supported(a.type, ct, compute)) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
  const bool tf32 = compute == CUBLAS_COMPUTE_32F_FAST_TF32;
  const double alpha = scalar(h, alpha_p, compute), beta = scalar(h, beta_p, compute);
  // Every element each operand's last matrix can reach must be device memory.
  auto span = [](int rows, int cols, int ld, long long stride, int count, cudaDataType t) {
    return (size_t(count - 1) * size_t(stride) + size_t(cols - 1) * size_t(ld) + size_t(rows)) * element_bytes(t);
  };
  if ((k > 0 && (!xclip_emu::is_device_range(a.data, span(a_rows, a.trans ? m : k, a.ld, a.stride, batch, a.type)) ||
                 !xclip_emu::is_device_range(b.data, span(b_rows, b.trans ? k : n, b.ld, b.stride, batch, b.type)))) ||
      !xclip_emu::is_device_range(c, span(m, n, ldc, stride_c, batch, ct))) {
    std::fprintf(stderr, "cuda-emu: cuBLAS GEMM operand outside device memory (m=%d n=%d k=%d batch=%d)\n", m, n,
                 k, batch);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  xclip_emu::DeviceAccess access;
  // Each matrix as contiguous double rows (op(A) as m×k, op(B)ᵀ as n×k) so the dot products are
  // unit-stride; columns of C in parallel.
  std::vector<double> ar(size_t(m) * size_t(k)), br(size_t(n) * size_t(k));
  for (int p = 0; p < batch; ++p) {
    const int64_t ao = int64_t(p) * a.stride, bo = int64_t(p) * b.stride, co = int64_t(p) * stride_c;
    for (int i = 0; i < m; ++i)
      for (int l = 0; l < k; ++l)
        ar[size_t(i) * size_t(k) + size_t(l)] =
            load(a.data, a.type, a.trans ? ao + int64_t(i) * a.ld + l : ao + int64_t(l) * a.ld + i, tf32);
    for (int j = 0; j < n; ++j)
      for (int l = 0; l < k; ++l)
        br[size_t(j) * size_t(k) + size_t(l)] =
            load(b.data, b.type, b.trans ? bo + int64_t(l) * b.ld + j : bo + int64_t(j) * b.ld + l, tf32);
#pragma omp parallel for schedule(static) if (int64_t(m) * n * k > (1 << 16))
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) {
        const double* x = &ar[size_t(i) * size_t(k)];
        const double* y = &br[size_t(j) * size_t(k)];
        double sum = 0;
        for (int l = 0; l < k; ++l) sum += x[l] * y[l];
        const int64_t ci = co + int64_t(j) * ldc + i;
        double out = alpha * sum;
        if (beta != 0) out += beta * load(c, ct, ci, false);
        if (ct == CUDA_R_64F)
          static_cast<double*>(c)[ci] = out;
        else
          static_cast<float*>(c)[ci] = float(out);
      }
  }
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
  *handle = new cublasContext();
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t mode) {
  handle->pointer_mode = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void* workspace, size_t bytes) {
  if (bytes > 0 && !xclip_emu::is_device_range(workspace, bytes)) return CUBLAS_STATUS_INVALID_VALUE;
  handle->workspace = workspace;
  handle->workspace_bytes = bytes;
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_UNKNOWN (emulated)";
  }
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* A, cudaDataType Atype, int lda, const void* B,
                            cudaDataType Btype, int ldb, const void* beta, void* C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t computeType, cublasGemmAlgo_t) {
  return gemm(handle, transa, transb, m, n, k, alpha, {A, Atype, lda, 0, false}, {B, Btype, ldb, 0, false}, beta, C,
              Ctype, ldc, 0, 1, computeType);
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                          int m, int n, int k, const void* alpha, const void* A, cudaDataType Atype,
                                          int lda, long long int strideA, const void* B, cudaDataType Btype, int ldb,
                                          long long int strideB, const void* beta, void* C, cudaDataType Ctype,
                                          int ldc, long long int strideC, int batchCount,
                                          cublasComputeType_t computeType, cublasGemmAlgo_t) {
  return gemm(handle, transa, transb, m, n, k, alpha, {A, Atype, lda, strideA, false}, {B, Btype, ldb, strideB, false},
              beta, C, Ctype, ldc, strideC, batchCount, computeType);
}

}  // extern "C"
