// The caching allocator and error reporting: no cudaMalloc in a steady-state loop of kernels
// that use scratch memory, a clear out-of-memory message, file:line in CUDA error messages.
#include "cuda_test_util.hpp"

#ifdef XCLIP_WITH_CUDA
using namespace xclip;
using namespace xclip::test;

namespace {

// One "training step" worth of allocations and scratch-using kernels (chunked column sums,
// layer-norm parameter gradients, the fused optimizer, an index check, a GEMM).
void steady_state_iteration(uint32_t seed) {
  const int64_t rows = 300, dim = 77;
  DeviceBuffer<float> x(random_vector<float>(size_t(rows * dim), seed)), y(size_t(rows * dim));
  DeviceBuffer<float> mean(static_cast<size_t>(rows)), rstd(static_cast<size_t>(rows)), gx(size_t(rows * dim));
  DeviceBuffer<float> w(std::vector<float>(size_t(dim), 1.0f)), gw(std::vector<float>(size_t(dim), 0.0f));
  cuda::layer_norm_forward<float>(x.get(), w.get(), nullptr, y.get(), mean.get(), rstd.get(), rows, dim, 1e-5);
  cuda::layer_norm_backward<float>(y.get(), x.get(), w.get(), mean.get(), rstd.get(), gx.get(), gw.get(), nullptr,
                                   rows, dim);
  const int64_t shape[2] = {rows, dim}, bias_strides[2] = {0, 1};
  cuda::sum_to_broadcast<float>(gx.get(), shape, 2, gw.get(), bias_strides);
  DeviceBuffer<float> scores(size_t(rows * rows));
  cuda::gemm<float>(false, true, rows, rows, dim, 1.0f, x.get(), dim, y.get(), dim, 0.0f, scores.get(), rows);
  DeviceBuffer<int64_t> index(random_indices(50, rows, seed));
  DeviceBuffer<float> rows_out(size_t(50 * dim));
  cuda::index_rows(x.get(), rows, dim * int64_t(sizeof(float)), index.get(), 50, rows_out.get());
  DeviceBuffer<float> m(std::vector<float>(size_t(rows * dim), 0.0f)), v(std::vector<float>(size_t(rows * dim), 0.0f));
  cuda::AdamSlot<float> slot;
  slot.param = x.get();
  slot.grad = gx.get();
  slot.m = m.get();
  slot.v = v.get();
  slot.numel = rows * dim;
  slot.lr = 1e-3;
  cuda::bert_adam_step<float>(&slot, 1, 0.9, 0.98, 1e-6, 1.0);
  cuda::synchronize();
}

}  // namespace

TEST_CASE("cuda caching allocator: a steady-state loop makes no cudaMalloc calls", "[cuda][allocator]") {
  XCLIP_REQUIRE_GPU();
  // Warm-up: fills the cache (and creates the stream and the cuBLAS handle with its workspace).
  for (uint32_t i = 0; i < 3; ++i) steady_state_iteration(1 + i);
  const auto before = cuda::memory_stats();
  for (uint32_t i = 0; i < 5; ++i) steady_state_iteration(10 + i);
  const auto after = cuda::memory_stats();
  INFO("device_allocs before " << before.device_allocs << ", after " << after.device_allocs);
  CHECK(after.device_allocs == before.device_allocs);
  CHECK(after.in_use == before.in_use);  // everything handed out was given back
}

TEST_CASE("cuda allocator: an absurd request fails with a clear out-of-memory Error", "[cuda][allocator]") {
  XCLIP_REQUIRE_GPU();
  const size_t absurd = size_t(1) << 50;  // 1 PiB
  std::string message;
  try {
    void* p = cuda::allocate(absurd);
    cuda::release(p);
  } catch (const Error& e) {
    message = e.what();
  }
  INFO(message);
  CHECK(message.find("CUDA out of memory") != std::string::npos);
  CHECK(message.find("requested " + std::to_string(absurd) + " bytes") != std::string::npos);
  CHECK(message.find("in use") != std::string::npos);
  // The allocator still works afterwards.
  DeviceBuffer<float> ok(std::vector<float>{1.0f, 2.0f});
  CHECK(ok.download() == std::vector<float>{1.0f, 2.0f});
}

// Needs no device: the message format of a failed CUDA call.
TEST_CASE("cuda check_cuda names file, line, call and the CUDA error", "[cuda][allocator]") {
  std::string message;
  try {
    cuda::check_cuda(2 /* cudaErrorMemoryAllocation */, "cudaMalloc(&p, n)", "cuda/example.cu", 42);
  } catch (const Error& e) {
    message = e.what();
  }
  INFO(message);
  CHECK(message.find("cuda/example.cu:42: cudaMalloc(&p, n): ") == 0);
  CHECK(message.size() > std::string("cuda/example.cu:42: cudaMalloc(&p, n): ").size());
  CHECK_NOTHROW(cuda::check_cuda(0, "cudaDeviceSynchronize()", "x.cu", 1));
}

TEST_CASE("cuda TF32 is off by default and can be switched", "[cuda][gemm]") {
  CHECK_FALSE(cuda::allow_tf32());
  cuda::set_allow_tf32(true);
  CHECK(cuda::allow_tf32());
  cuda::set_allow_tf32(false);
  CHECK_FALSE(cuda::allow_tf32());
}

#else
TEST_CASE("cuda allocator: skipped in a build without CUDA", "[cuda][allocator]") { XCLIP_SKIP("built without CUDA"); }
#endif
