// Row-wise GPU kernels against their CPU twins: layer norm (forward, backward, accumulated
// parameter gradients), softmax / log-softmax with temperature, reductions and their adjoints.
#include "cuda_test_util.hpp"

#ifdef XCLIP_WITH_CUDA
using namespace xclip;
using namespace xclip::test;

namespace {

// ---- layer norm ---------------------------------------------------------------------------------------
template <class T>
void check_layer_norm(int64_t rows, int64_t dim, bool affine, double eps, uint32_t seed) {
  const size_t n = size_t(rows * dim);
  const auto x = random_vector<T>(n, seed, -3.0, 5.0);
  const auto w = random_vector<T>(size_t(dim), seed + 1), b = random_vector<T>(size_t(dim), seed + 2);
  const auto gy = random_vector<T>(n, seed + 3);
  const auto gw0 = random_vector<T>(size_t(dim), seed + 4), gb0 = random_vector<T>(size_t(dim), seed + 5);
  const T* pw = affine ? w.data() : nullptr;
  const T* pb = affine ? b.data() : nullptr;

  std::vector<T> y(n), mean(static_cast<size_t>(rows)), rstd(static_cast<size_t>(rows)), gx(n), gw = gw0, gb = gb0;
  cpu::layer_norm_forward<T>(x.data(), pw, pb, y.data(), mean.data(), rstd.data(), rows, dim, eps);
  cpu::layer_norm_backward<T>(gy.data(), x.data(), pw, mean.data(), rstd.data(), gx.data(), affine ? gw.data() : nullptr,
                              affine ? gb.data() : nullptr, rows, dim);

  DeviceBuffer<T> dx(x), dw(w), db(b), dgy(gy), dgw(gw0), dgb(gb0);
  PoisonedBuffer<T> dy(n), dmean(static_cast<size_t>(rows)), drstd(static_cast<size_t>(rows)), dgx(n);
  cuda::layer_norm_forward<T>(dx.get(), affine ? dw.get() : nullptr, affine ? db.get() : nullptr, dy.get(),
                              dmean.get(), drstd.get(), rows, dim, eps);
  cuda::layer_norm_backward<T>(dgy.get(), dx.get(), affine ? dw.get() : nullptr, dmean.get(), drstd.get(), dgx.get(),
                               affine ? dgw.get() : nullptr, affine ? dgb.get() : nullptr, rows, dim);
  std::ostringstream what;
  what << "layer_norm rows=" << rows << " dim=" << dim << " affine=" << affine << " eps=" << eps << ": ";
  const double rtol = default_rtol<T>();
  expect_close(dy.download(), y, rtol, what.str() + "y");
  expect_close(dmean.download(), mean, rtol, what.str() + "mean");
  expect_close(drstd.download(), rstd, rtol, what.str() + "rstd");
  expect_close(dgx.download(), gx, rtol, what.str() + "gx");
  expect_close(dgw.download(), gw, rtol, what.str() + "gweight (accumulated)");
  expect_close(dgb.download(), gb, rtol, what.str() + "gbias (accumulated)");
}

template <class T>
void check_all_layer_norms() {
  uint32_t seed = 20;
  for (int64_t rows : {1, 13, 300})
    for (int64_t dim : {1, 7, 769, 2000})
      for (bool affine : {true, false}) check_layer_norm<T>(rows, dim, affine, 1e-5, seed += 6);
  check_layer_norm<T>(50, 512, true, 1e-12, seed += 6);  // the temporal encoder's epsilon
}

// ---- softmax -------------------------------------------------------------------------------------------
template <class T>
void check_softmax(int64_t outer, int64_t n, int64_t inner, double inv_t, bool log, uint32_t seed) {
  const size_t total = size_t(outer * n * inner);
  const auto x = random_vector<T>(total, seed, -3.0, 3.0);
  const auto gy = random_vector<T>(total, seed + 1);
  std::vector<T> y(total), gx(total);
  cpu::softmax_forward<T>(x.data(), y.data(), outer, n, inner, inv_t, log);
  cpu::softmax_backward<T>(y.data(), gy.data(), gx.data(), outer, n, inner, inv_t, log);
  DeviceBuffer<T> dx(x), dgy(gy), dyc(y);
  PoisonedBuffer<T> dy(total), dgx(total);
  cuda::softmax_forward<T>(dx.get(), dy.get(), outer, n, inner, inv_t, log);
  cuda::softmax_backward<T>(dyc.get(), dgy.get(), dgx.get(), outer, n, inner, inv_t, log);  // the CPU's y
  std::ostringstream what;
  what << (log ? "log_softmax" : "softmax") << " [" << outer << ", " << n << ", " << inner << "] invT=" << inv_t
       << ": ";
  const double rtol = default_rtol<T>();
  // Probabilities are small: compare them relatively (a tiny absolute floor only).
  expect_close(dy.download(), y, rtol, what.str() + "y", rtol * 1e-3);
  expect_close(dgx.download(), gx, rtol, what.str() + "gx", rtol * 1e-3 * inv_t);
}

template <class T>
void check_all_softmax() {
  uint32_t seed = 60;
  for (bool log : {false, true})
    for (double inv_t : {1.0, 100.0}) {
      check_softmax<T>(1, 1, 1, inv_t, log, seed += 2);
      check_softmax<T>(37, 77, 1, inv_t, log, seed += 2);   // last axis (warp per row)
      check_softmax<T>(3, 1000, 1, inv_t, log, seed += 2);  // long rows
      check_softmax<T>(5, 13, 33, inv_t, log, seed += 2);   // middle axis
      check_softmax<T>(2, 50, 3, inv_t, log, seed += 2);
      check_softmax<T>(4, 1, 9, inv_t, log, seed += 2);     // length-1 axis
    }
}

// ---- reductions ------------------------------------------------------------------------------------------
template <class T>
void check_reduce_sum(int64_t outer, int64_t n, int64_t inner, uint32_t seed) {
  const auto x = random_vector<T>(size_t(outer * n * inner), seed);
  std::vector<T> want(size_t(outer * inner));
  cpu::reduce_sum<T>(x.data(), want.data(), outer, n, inner);
  DeviceBuffer<T> dx(x);
  PoisonedBuffer<T> dy(want.size());
  cuda::reduce_sum<T>(dx.get(), dy.get(), outer, n, inner);
  std::ostringstream what;
  what << "reduce_sum [" << outer << ", " << n << ", " << inner << "]";
  expect_close(dy.download(), want, default_rtol<T>(), what.str());
}

// Inputs with repeated values (ties) and, when asked, NaNs: the first maximum / first NaN wins.
template <class T>
std::vector<T> tie_prone(size_t count, uint32_t seed, bool with_nan) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> level(-3, 3);
  std::uniform_int_distribution<int> nan_pick(0, 40);
  std::vector<T> v(count);
  for (T& x : v) x = with_nan && nan_pick(gen) == 0 ? std::numeric_limits<T>::quiet_NaN() : T(level(gen));
  return v;
}

template <class T>
void check_reduce_max(int64_t outer, int64_t n, int64_t inner, bool with_nan, uint32_t seed) {
  const auto x = tie_prone<T>(size_t(outer * n * inner), seed, with_nan);
  const size_t m = size_t(outer * inner);
  std::vector<T> want(m);
  std::vector<int64_t> want_arg(m);
  cpu::reduce_max<T>(x.data(), want.data(), want_arg.data(), outer, n, inner);
  DeviceBuffer<T> dx(x);
  PoisonedBuffer<T> dy(m);
  PoisonedBuffer<int64_t> darg(m);
  cuda::reduce_max<T>(dx.get(), dy.get(), darg.get(), outer, n, inner);
  std::ostringstream what;
  what << "reduce_max [" << outer << ", " << n << ", " << inner << "] nan=" << with_nan;
  expect_equal(dy.download(), want, what.str() + " values");
  expect_equal(darg.download(), want_arg, what.str() + " argmax");

  // The adjoints, with the CPU's argmax.
  const auto gy = random_vector<T>(m, seed + 1);
  std::vector<T> gx(size_t(outer * n * inner)), gb(gx.size());
  cpu::scatter_max_grad<T>(gy.data(), want_arg.data(), gx.data(), outer, n, inner);
  cpu::broadcast_axis<T>(gy.data(), gb.data(), outer, n, inner, T(0.25));
  DeviceBuffer<T> dgy(gy);
  DeviceBuffer<int64_t> dargc(want_arg);
  PoisonedBuffer<T> dgx(gx.size()), dgb(gx.size());
  cuda::scatter_max_grad<T>(dgy.get(), dargc.get(), dgx.get(), outer, n, inner);
  cuda::broadcast_axis<T>(dgy.get(), dgb.get(), outer, n, inner, T(0.25));
  expect_equal(dgx.download(), gx, what.str() + " scatter_max_grad");
  expect_equal(dgb.download(), gb, what.str() + " broadcast_axis");
}

template <class T>
void check_all_reductions() {
  uint32_t seed = 90;
  const int64_t shapes[][3] = {{1, 1, 1}, {37, 1, 1}, {1, 37, 1}, {13, 77, 1}, {3, 2000, 1}, {5, 13, 33},
                               {1, 3000, 45}, {2, 1, 9}, {4, 300, 2}, {1, 100, 1}};
  for (const auto& s : shapes) {
    check_reduce_sum<T>(s[0], s[1], s[2], seed++);
    check_reduce_max<T>(s[0], s[1], s[2], false, seed++);
    check_reduce_max<T>(s[0], s[1], s[2], true, seed++);
  }
}

}  // namespace

TEST_CASE("cuda layer_norm forward/backward match the CPU (f32, f64)", "[cuda][layer_norm]") {
  XCLIP_REQUIRE_GPU();
  check_all_layer_norms<float>();
  check_all_layer_norms<double>();
}

TEST_CASE("cuda softmax/log_softmax forward/backward with temperature match the CPU", "[cuda][softmax]") {
  XCLIP_REQUIRE_GPU();
  check_all_softmax<float>();
  check_all_softmax<double>();
}

TEST_CASE("cuda reduce_sum, reduce_max (+argmax, ties, NaN) and adjoints match the CPU", "[cuda][reduce]") {
  XCLIP_REQUIRE_GPU();
  check_all_reductions<float>();
  check_all_reductions<double>();
}

TEST_CASE("cuda reduce_sum over an empty axis writes zeros", "[cuda][reduce]") {
  XCLIP_REQUIRE_GPU();
  DeviceBuffer<float> dx(1);
  PoisonedBuffer<float> dy(6);
  cuda::reduce_sum<float>(dx.get(), dy.get(), 2, 0, 3);
  expect_equal(dy.download(), std::vector<float>(6, 0.0f), "reduce_sum n=0");
}

#else
TEST_CASE("cuda layer_norm/softmax/reduce: skipped in a build without CUDA", "[cuda]") {
  XCLIP_SKIP("built without CUDA");
}
#endif
