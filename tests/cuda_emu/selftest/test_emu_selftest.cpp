// The CUDA emulator checked on its own: barriers, shuffles and shared memory give CUDA's results;
// launch limits, cuBLAS argument checks and copy directions return CUDA's errors; and each misuse
// it promises to stop (a barrier some threads skip, a shuffle with a missing lane, host code
// touching device memory) stops a child process with its message. Without these, a pass of the
// emulated cuda tests would say nothing about what the emulator can catch.
#include <catch2/catch.hpp>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "selftest_kernels.hpp"

using namespace xclip_emu_selftest;

namespace {

template <class T>
T* device_copy(const std::vector<T>& host) {
  void* p = nullptr;
  REQUIRE(cudaMalloc(&p, host.size() * sizeof(T)) == cudaSuccess);
  REQUIRE(cudaMemcpy(p, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
  return static_cast<T*>(p);
}

template <class T>
std::vector<T> host_copy(const T* device, size_t n) {
  std::vector<T> host(n);
  REQUIRE(cudaMemcpy(host.data(), device, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
  return host;
}

struct ChildResult {
  bool signalled = false;
  int signal = 0;
  int exit_code = 0;
  std::string stderr_text;
};

// Runs `body` in a forked child with stderr captured; the child exits 0 if body returns.
ChildResult run_in_child(const std::function<void()>& body) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  std::fflush(nullptr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // the child: no test framework handlers, no output but stderr into the pipe
    close(fds[0]);
    dup2(fds[1], 2);
    const int null_fd = open("/dev/null", O_WRONLY);
    if (null_fd >= 0) dup2(null_fd, 1);
    signal(SIGABRT, SIG_DFL);
    body();
    _exit(0);
  }
  close(fds[1]);
  ChildResult r;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) r.stderr_text.append(buf, size_t(n));
  close(fds[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  r.signalled = WIFSIGNALED(status);
  r.signal = r.signalled ? WTERMSIG(status) : 0;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

void expect_stopped(const ChildResult& r, int signal, const std::string& message) {
  INFO("child stderr: " << r.stderr_text);
  CHECK(r.signalled);
  CHECK(r.signal == signal);
  CHECK(r.stderr_text.find(message) != std::string::npos);
}

}  // namespace

TEST_CASE("emulator: __syncthreads orders a shared-memory reduction", "[emu]") {
  const int blocks = 3, threads = 256;
  std::vector<float> x(size_t(blocks * threads));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 7) - 2.0f;
  float* dx = device_copy(x);
  float* dout = device_copy(std::vector<float>(blocks, -1.0f));
  REQUIRE(block_sums(dx, dout, blocks, threads) == cudaSuccess);
  const auto out = host_copy(dout, blocks);
  for (int b = 0; b < blocks; ++b) {
    double want = 0;
    for (int t = 0; t < threads; ++t) want += x[size_t(b * threads + t)];
    CHECK(out[size_t(b)] == float(want));
  }
}

TEST_CASE("emulator: warp shuffles exchange within each warp", "[emu]") {
  const int threads = 96;
  std::vector<float> x(threads);
  for (int i = 0; i < threads; ++i) x[size_t(i)] = float(i * i % 11);
  float* dx = device_copy(x);
  float* dout = device_copy(std::vector<float>(threads, -1.0f));
  REQUIRE(warp_sums(dx, dout, threads) == cudaSuccess);
  const auto out = host_copy(dout, threads);
  for (int i = 0; i < threads; ++i) {
    float warp = 0;
    for (int j = i / 32 * 32; j < i / 32 * 32 + 32; ++j) warp += x[size_t(j)];
    const float next = (i & 31) < 31 ? x[size_t(i + 1)] : 0.0f;
    CHECK(out[size_t(i)] == warp + next);
  }
}

TEST_CASE("emulator: __syncthreads_or sees every thread of its block", "[emu]") {
  std::vector<float> x(128, 0.0f);
  x[64 + 63] = 1.0f;  // only block 1, its last thread
  float* dx = device_copy(x);
  int* dout = device_copy(std::vector<int>(2, -1));
  REQUIRE(block_any(dx, dout, 2, 64) == cudaSuccess);
  CHECK(host_copy(dout, 2) == std::vector<int>{0, 1});
}

TEST_CASE("emulator: launch limits fail as on the driver", "[emu]") {
  int* dout = device_copy(std::vector<int>(2048, -1));
  CHECK(write_thread_ids(dout, 1024) == cudaSuccess);
  CHECK(host_copy(dout, 1024)[1023] == 1023);
  CHECK(write_thread_ids(dout, 1025) == cudaErrorInvalidConfiguration);
  // Dynamic shared memory: 48 KiB without asking, up to the opt-in maximum after asking.
  CHECK(use_dynamic_shared(dout, 48 * 1024, false) == cudaSuccess);
  CHECK(host_copy(dout, 1)[0] == 48 * 1024 / 4 - 1);
  CHECK(use_dynamic_shared(dout, 64 * 1024, false) == cudaErrorInvalidValue);
  CHECK(use_dynamic_shared(dout, 64 * 1024, true) == cudaSuccess);
  CHECK(host_copy(dout, 1)[0] == 64 * 1024 / 4 - 1);
  CHECK(use_dynamic_shared(dout, 300 * 1024, true) == cudaErrorInvalidValue);
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);  // the failed cudaFuncSetAttribute, as CUDA records it
  CHECK(cudaGetLastError() == cudaSuccess);
}

TEST_CASE("emulator: copies must match their cudaMemcpyKind", "[emu]") {
  int* d = device_copy(std::vector<int>(4, 0));
  std::vector<int> h(4, 7);
  CHECK(cudaMemcpy(d, h.data(), 16, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue);  // reversed
  CHECK(cudaMemcpy(h.data(), d, 32, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue);  // past the end
  CHECK(cudaMemcpy(h.data(), d, 16, cudaMemcpyDeviceToHost) == cudaSuccess);
  CHECK(h == std::vector<int>(4, 0));
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);  // recorded by the failed copies
  CHECK(cudaGetLastError() == cudaSuccess);
}

TEST_CASE("emulator: cuBLAS GEMM arguments are checked as cuBLAS documents", "[emu]") {
  cublasHandle_t h = nullptr;
  REQUIRE(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
  float* a = device_copy(std::vector<float>{1, 2, 3, 4});  // 2×2 column-major
  float* c = device_copy(std::vector<float>(4, -1.0f));
  const float one = 1, zero = 0;
  CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_T, 2, 2, 2, &one, a, CUDA_R_32F, 2, a, CUDA_R_32F, 2, &zero, c,
                     CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
  CHECK(host_copy(c, 4) == std::vector<float>{10, 14, 14, 20});  // A·Aᵀ
  CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, a, CUDA_R_32F, 1, a, CUDA_R_32F, 2, &zero, c,
                     CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, a, CUDA_R_32F, 2, a, CUDA_R_32F, 2, &zero, c,
                     CUDA_R_32F, 2, CUBLAS_COMPUTE_64F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_NOT_SUPPORTED);
  std::vector<float> host_a{1, 2, 3, 4};  // an operand in host memory
  CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, host_a.data(), CUDA_R_32F, 2, a, CUDA_R_32F, 2,
                     &zero, c, CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_INVALID_VALUE);
}

TEST_CASE("emulator: the reverse run order changes what order-dependent kernels compute", "[emu]") {
  struct Restore {
    bool was = reverse_order();
    ~Restore() { set_reverse_order(was); }
  } restore;
  const int n = 64;
  int* d = device_copy(std::vector<int>(n, -1));
  auto run = [&](bool reverse, auto launch) {
    set_reverse_order(reverse);
    REQUIRE(launch() == cudaSuccess);
    return host_copy(d, n);
  };
  std::vector<int> rotated(n);
  for (int t = 0; t < n; ++t) rotated[size_t(t)] = (t + 1) % n;
  // With the barrier, both orders give the rotation; without it, neither order can (in order,
  // each thread reads a neighbour not yet written; last to first, thread n−1 does).
  for (bool reverse : {false, true}) CHECK(run(reverse, [&] { return read_neighbour(d, n, true); }) == rotated);
  const auto forward_racy = run(false, [&] { return read_neighbour(d, n, false); });
  const auto reverse_racy = run(true, [&] { return read_neighbour(d, n, false); });
  CHECK(forward_racy != rotated);
  CHECK(reverse_racy != rotated);
  CHECK(forward_racy != reverse_racy);
  // A block that reads another block's output: 1, 2, 3, ... in order, all 1 last to first.
  std::vector<int> counting(n), ones(n, 1);
  for (int b = 0; b < n; ++b) counting[size_t(b)] = b + 1;
  CHECK(run(false, [&] { return chain_blocks(d, n); }) == counting);
  CHECK(run(true, [&] { return chain_blocks(d, n); }) == ones);
}

TEST_CASE("emulator: host code that touches device memory faults", "[emu]") {
  float* d = device_copy(std::vector<float>(8, 1.0f));
  const ChildResult r = run_in_child([d] {
    volatile float v = d[3];  // a host read of device memory
    (void)v;
  });
  expect_stopped(r, SIGSEGV, "host code touched device memory");
}

TEST_CASE("emulator: a __syncthreads that some threads return before stops the run", "[emu]") {
  expect_stopped(run_in_child([] { divergent_barrier(); }), SIGABRT, "__syncthreads after 48 of the block's threads returned");
}

TEST_CASE("emulator: a kernel given a host pointer stops the run", "[emu]") {
  expect_stopped(run_in_child([] { host_pointer_argument(); }), SIGABRT, "argument 0");
  expect_stopped(run_in_child([] { host_pointer_argument(); }), SIGABRT, "is not device memory");
}

TEST_CASE("emulator: a misaligned vector access stops the run", "[emu]") {
  const ChildResult r = run_in_child([] { misaligned_vector_load(); });
  INFO("child stderr: " << r.stderr_text);
  CHECK((r.signalled || r.exit_code != 0));  // the alignment sanitizer exits with an error
  CHECK(r.stderr_text.find("misaligned address") != std::string::npos);
  CHECK(r.stderr_text.find("uint4") != std::string::npos);
}

TEST_CASE("emulator: a full-mask shuffle with a lane missing stops the run", "[emu]") {
  expect_stopped(run_in_child([] { shuffle_after_return(); }), SIGABRT, "after a lane of the warp returned");
  expect_stopped(run_in_child([] { partial_warp_shuffle(); }), SIGABRT, "in a warp of fewer than 32 threads");
}
