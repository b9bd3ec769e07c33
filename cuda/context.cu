// The backend's one stream, its cuBLAS handle, the TF32 switch and the bad-index record.
#include <atomic>

#include "common.cuh"

namespace xclip::cuda {

namespace {
std::atomic<bool> g_allow_tf32{false};

// cuBLAS' recommended workspace on Hopper; taken from the caching allocator once, never returned,
// so cuBLAS never allocates behind our back.
constexpr size_t kCublasWorkspaceBytes = size_t(32) << 20;

cudaStream_t create_stream() {
  cudaStream_t s = nullptr;
  // A blocking stream (not cudaStreamNonBlocking): it synchronises with the legacy default stream,
  // which cuda/runtime.cu's cudaMemcpy/cudaMemset use, so those stay ordered with our kernels.
  XCLIP_CUDA_CHECK(cudaStreamCreate(&s));
  return s;
}

cublasHandle_t create_cublas() {
  cublasHandle_t h = nullptr;
  XCLIP_CUBLAS_CHECK(cublasCreate(&h));
  XCLIP_CUBLAS_CHECK(cublasSetStream(h, cuda_stream()));
  XCLIP_CUBLAS_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));
  void* workspace = allocate(kCublasWorkspaceBytes);
  XCLIP_CUBLAS_CHECK(cublasSetWorkspace(h, workspace, kCublasWorkspaceBytes));
  return h;
}
}  // namespace

void* stream() {
  static cudaStream_t s = create_stream();  // never destroyed: destruction at exit races the driver
  return s;
}

void synchronize_stream() { XCLIP_CUDA_CHECK(cudaStreamSynchronize(cuda_stream())); }

cublasHandle_t cublas_handle() {
  static cublasHandle_t h = create_cublas();
  return h;
}

void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw Error(format(file, ":", line, ": ", call, ": ", cublasGetStatusString(status), " (cuBLAS status ",
                     int(status), ")"));
}

void set_allow_tf32(bool allow) { g_allow_tf32.store(allow); }
bool allow_tf32() { return g_allow_tf32.load(); }

namespace detail {

IndexErrorFlag::IndexErrorFlag() {
  record_ = static_cast<IndexErrorRecord*>(allocate(sizeof(IndexErrorRecord)));
  XCLIP_CUDA_CHECK(cudaMemsetAsync(record_, 0, sizeof(IndexErrorRecord), cuda_stream()));
}

IndexErrorFlag::~IndexErrorFlag() {
  // Released after the kernels that use it were queued; any later user of the block is queued
  // behind them on the same stream.
  if (record_) release(record_);
}

bool IndexErrorFlag::failed(int64_t* bad_value) {
  IndexErrorRecord host{};
  XCLIP_CUDA_CHECK(
      cudaMemcpyAsync(&host, record_, sizeof(IndexErrorRecord), cudaMemcpyDeviceToHost, cuda_stream()));
  XCLIP_CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
  if (host.count == 0) return false;
  if (bad_value) *bad_value = int64_t(host.value);
  return true;
}

}  // namespace detail

}  // namespace xclip::cuda
