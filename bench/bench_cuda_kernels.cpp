// Times the CUDA kernels at X-CLIP ViT-B/32 training shapes (batch 128 clips × 12 frames × 50
// tokens, width 768): GEMMs (f32, TF32, bf16), layer norm, softmax, elementwise, reductions, the
// fused BertAdam step. Prints ms per call and the achieved TFLOP/s or GB/s.
// Usage: bench_cuda_kernels [--quick]   (--quick: smaller shapes, for a smoke run)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <type_traits>
#include <string>
#include <vector>

#ifdef XCLIP_WITH_CUDA
#include "bench_args.hpp"
#include "xclip/core/error.hpp"
#include "xclip/cuda/runtime.hpp"
#include "xclip/kernels/cuda.hpp"

namespace {
using namespace xclip;

// Device memory filled with a small constant (the values do not matter for timing).
template <class T>
struct Buffer {
  T* ptr;
  size_t n;
  explicit Buffer(size_t count, float value = 0.01f) : ptr(static_cast<T*>(cuda::allocate(count * sizeof(T)))), n(count) {
    std::vector<T> host(count);
    for (T& v : host) {
      if constexpr (std::is_same_v<T, bf16_t>)
        v = float_to_bf16(value);
      else
        v = T(value);
    }
    cuda::copy(ptr, true, host.data(), false, count * sizeof(T));
  }
  ~Buffer() { cuda::release(ptr); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
};

// Median-free simple timing: warm up, then the mean over `reps` calls, synchronised at both ends.
double time_ms(const std::function<void()>& fn, int reps = 20) {
  for (int i = 0; i < 3; ++i) fn();
  cuda::synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) fn();
  cuda::synchronize();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::milli>(t1 - t0).count() / reps;
}

void report(const std::string& name, double ms, double flops, double bytes) {
  std::printf("%-58s %9.3f ms", name.c_str(), ms);
  if (flops > 0) std::printf("  %8.1f TFLOP/s", flops / (ms * 1e-3) / 1e12);
  if (bytes > 0) std::printf("  %8.1f GB/s", bytes / (ms * 1e-3) / 1e9);
  std::printf("\n");
}

void bench_gemms(int64_t tokens, int64_t width) {
  const int64_t M = tokens, K = width, N = 4 * width;  // the MLP's c_fc
  const double flops = 2.0 * double(M) * double(N) * double(K);
  Buffer<float> a(size_t(M * K)), b(size_t(N * K)), c(size_t(M * N));
  const std::string shape = "[" + std::to_string(M) + "x" + std::to_string(K) + "]·[" + std::to_string(K) + "x" +
                            std::to_string(N) + "]";
  auto f32 = [&] { cuda::gemm<float>(false, true, M, N, K, 1.0f, a.ptr, K, b.ptr, K, 0.0f, c.ptr, N); };
  cuda::set_allow_tf32(false);
  report("gemm f32 " + shape, time_ms(f32), flops, 0);
  cuda::set_allow_tf32(true);
  report("gemm tf32 " + shape, time_ms(f32), flops, 0);
  cuda::set_allow_tf32(false);
  Buffer<bf16_t> ah(size_t(M * K)), bh(size_t(N * K));
  report("gemm bf16->f32 " + shape,
         time_ms([&] { cuda::gemm_bf16(false, true, M, N, K, 1.0f, ah.ptr, K, bh.ptr, K, 0.0f, c.ptr, N); }), flops, 0);
  // Attention scores: per (clip·frame·head), [50 x 64]·[64 x 50].
  const int64_t L = 50, hd = 64, batch = tokens / L * (width / hd);
  Buffer<float> q(size_t(batch * L * hd)), s(size_t(batch * L * L));
  report("gemm_batched f32 attention scores x" + std::to_string(batch),
         time_ms([&] {
           cuda::gemm_batched<float>(false, true, L, L, hd, 0.125f, q.ptr, hd, L * hd, q.ptr, hd, L * hd, 0.0f, s.ptr,
                                     L, L * L, batch);
         }),
         2.0 * double(batch) * L * L * hd, 0);
}

void bench_rowwise(int64_t tokens, int64_t width) {
  const size_t n = size_t(tokens * width);
  const size_t d = size_t(width), rows = size_t(tokens);
  Buffer<float> x(n), y(n), gy(n), gx(n), w(d, 1.0f), b(d), gw(d), gb(d), mean(rows), rstd(rows);
  const double bytes = double(n) * sizeof(float);
  const std::string shape = " [" + std::to_string(tokens) + " x " + std::to_string(width) + "]";
  report("layer_norm_forward" + shape, time_ms([&] {
           cuda::layer_norm_forward<float>(x.ptr, w.ptr, b.ptr, y.ptr, mean.ptr, rstd.ptr, tokens, width, 1e-5);
         }),
         0, 2 * bytes);
  report("layer_norm_backward (+gweight, gbias)" + shape, time_ms([&] {
           cuda::layer_norm_backward<float>(gy.ptr, x.ptr, w.ptr, mean.ptr, rstd.ptr, gx.ptr, gw.ptr, gb.ptr, tokens,
                                            width);
         }),
         0, 5 * bytes);
  report("unary_forward quick_gelu" + shape,
         time_ms([&] { cuda::unary_forward<float>(cuda::UnaryOp::quick_gelu, x.ptr, y.ptr, int64_t(n)); }), 0,
         2 * bytes);
  const int64_t shp[2] = {tokens, width}, same[2] = {width, 1}, bias[2] = {0, 1};
  report("binary_broadcast add bias" + shape, time_ms([&] {
           cuda::binary_broadcast<float>(cuda::BinaryOp::add, x.ptr, same, b.ptr, bias, y.ptr, shp, 2);
         }),
         0, 2 * bytes);
  report("sum_to_broadcast (bias gradient)" + shape,
         time_ms([&] { cuda::sum_to_broadcast<float>(gy.ptr, shp, 2, gb.ptr, bias); }), 0, bytes);
  report("reduce_sum over rows" + shape, time_ms([&] { cuda::reduce_sum<float>(x.ptr, gb.ptr, 1, tokens, width); }),
         0, bytes);
  report("reduce_sum over the last axis" + shape,
         time_ms([&] { cuda::reduce_sum<float>(x.ptr, mean.ptr, tokens, width, 1); }), 0, bytes);
  const int order[3] = {1, 0, 2};
  const int64_t pshape[3] = {tokens / 50, 50, width};
  report("permute_copy [B, L, D] -> [L, B, D]" + shape,
         time_ms([&] { cuda::permute_copy(x.ptr, y.ptr, sizeof(float), pshape, order, 3); }), 0, 2 * bytes);
}

void bench_softmax(int64_t tokens, int64_t width) {
  const int64_t L = 50, rows = tokens * (width / 64);  // [clips·frames·heads·L, L]
  const size_t n = size_t(rows * L);
  Buffer<float> x(n), y(n), gy(n), gx(n);
  const double bytes = double(n) * sizeof(float);
  const std::string shape = " [" + std::to_string(rows) + " x " + std::to_string(L) + "]";
  report("softmax_forward" + shape, time_ms([&] { cuda::softmax_forward<float>(x.ptr, y.ptr, rows, L, 1, 1.0, false); }),
         0, 2 * bytes);
  report("softmax_backward" + shape,
         time_ms([&] { cuda::softmax_backward<float>(y.ptr, gy.ptr, gx.ptr, rows, L, 1, 1.0, false); }), 0, 3 * bytes);
}

void bench_optimizer(int64_t params) {
  // ~150 tensors of one size class each, as a ViT-B/32 + text encoder has ~300.
  const int64_t count = 150, each = params / count;
  const size_t total = size_t(count * each);
  Buffer<float> p(total), g(total), m(total), v(total);
  std::vector<cuda::AdamSlot<float>> slots(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    auto& s = slots[size_t(i)];
    s.param = p.ptr + i * each;
    s.grad = g.ptr + i * each;
    s.m = m.ptr + i * each;
    s.v = v.ptr + i * each;
    s.numel = each;
    s.lr = 1e-7;
    s.weight_decay = 0.2;
    s.step = 1;
  }
  const double bytes = double(count * each) * sizeof(float) * 7;  // read p, g, m, v; write p, m, v (+g)
  report("bert_adam_step " + std::to_string(count * each) + " params, clipping",
         time_ms([&] { cuda::bert_adam_step<float>(slots.data(), count, 0.9, 0.98, 1e-6, 1.0); }, 10), 0, bytes);
  report("adamw_step " + std::to_string(count * each) + " params",
         time_ms([&] { cuda::adamw_step<float>(slots.data(), count, 0.9, 0.98, 1e-6); }, 10), 0, bytes);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  xclip::bench::Args([](const std::string& why) {
    std::fprintf(stderr, "bench_cuda_kernels: %s\nusage: bench_cuda_kernels [--quick]\n", why.c_str());
    std::exit(2);
  })
      .flag("--quick", quick)
      .parse(argc, argv);
  if (cuda::device_count() == 0) {
    std::printf("bench_cuda_kernels: no CUDA device on this machine; nothing measured\n");
    return 0;
  }
  try {
    std::printf("device: %s\n", cuda::device_name().c_str());
    const int64_t tokens = quick ? 4 * 12 * 50 : 128 * 12 * 50, width = 768;
    bench_gemms(tokens, width);
    bench_rowwise(tokens, width);
    bench_softmax(tokens, width);
    bench_optimizer(quick ? 1 << 22 : 150'000'000);
    const auto stats = cuda::memory_stats();
    std::printf("allocator: peak in use %.1f MiB, cudaMalloc calls %zu\n", double(stats.peak_in_use) / (1 << 20),
                stats.device_allocs);
  } catch (const xclip::Error& e) {
    std::fprintf(stderr, "bench_cuda_kernels: %s\n", e.what());
    return 1;
  }
  return 0;
}
#else
int main() {
  std::printf("bench_cuda_kernels: built without CUDA; nothing measured\n");
  return 0;
}
#endif
