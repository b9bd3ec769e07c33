// Elementwise GPU kernels against their CPU twins: broadcasting binary ops, sum_to_broadcast,
// unary forward/backward, affine, the fused bias + QuickGELU. f32 within 1e-5 relative, f64 within 1e-12; outputs poisoned.
#include "cuda_test_util.hpp"

#ifdef XCLIP_WITH_CUDA
using namespace xclip;
using namespace xclip::test;
using cpu::BinaryOp;
using cpu::UnaryOp;

namespace {

// A broadcast case: output shape and each operand's shape (same ndim, 1 where broadcast).
struct BroadcastCase {
  std::vector<int64_t> out, a, b;
};
const BroadcastCase kBroadcastCases[] = {
    {{37}, {37}, {37}},                                   // plain
    {{37}, {37}, {1}},                                    // scalar b
    {{1}, {1}, {1}},                                      // one element
    {{5, 33}, {1, 33}, {5, 1}},                           // outer product shape
    {{3, 1, 7, 45}, {3, 1, 7, 45}, {1, 1, 7, 1}},         // middle broadcast, length-1 dim
    {{2, 3, 1, 5, 4, 3}, {2, 1, 1, 5, 1, 3}, {1, 3, 1, 1, 4, 1}},  // six dims
    {{4, 0, 3}, {4, 0, 3}, {1, 1, 3}},                    // empty
};

// Row-major strides of `shape`, with 0 where the operand's dim is 1 but the output's is not.
std::vector<int64_t> broadcast_strides(const std::vector<int64_t>& operand, const std::vector<int64_t>& out) {
  std::vector<int64_t> s(operand.size());
  int64_t stride = 1;
  for (size_t d = operand.size(); d-- > 0;) {
    s[d] = operand[d] == 1 && out[d] != 1 ? 0 : stride;
    stride *= operand[d];
  }
  return s;
}

template <class T>
void check_binary(BinaryOp op, const BroadcastCase& c, uint32_t seed) {
  const auto a = random_vector<T>(size_t(product(c.a)), seed);
  const auto b = random_away_from_zero<T>(size_t(product(c.b)), seed + 1);  // safe divisors
  const auto as = broadcast_strides(c.a, c.out), bs = broadcast_strides(c.b, c.out);
  const int ndim = int(c.out.size());
  const size_t n = size_t(product(c.out));
  std::vector<T> want(n);
  cpu::binary_broadcast<T>(op, a.data(), as.data(), b.data(), bs.data(), want.data(), c.out.data(), ndim);
  DeviceBuffer<T> da(a), db(b);
  PoisonedBuffer<T> dout(n);
  cuda::binary_broadcast<T>(op, da.get(), as.data(), db.get(), bs.data(), dout.get(), c.out.data(), ndim);
  expect_close(dout.download(), want, default_rtol<T>(), "binary_broadcast op " + std::to_string(int(op)));
}

template <class T>
void check_all_binary() {
  uint32_t seed = 10;
  for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div})
    for (const BroadcastCase& c : kBroadcastCases) check_binary<T>(op, c, seed += 2);
}

// sum_to_broadcast: the gradient of a broadcast. dst is pre-filled (the kernel accumulates).
template <class T>
void check_sum_to_broadcast(const std::vector<int64_t>& shape, const std::vector<int64_t>& dst_shape, uint32_t seed) {
  const auto src = random_vector<T>(size_t(product(shape)), seed);
  const auto dst0 = random_vector<T>(size_t(product(dst_shape)), seed + 1);
  const auto ds = broadcast_strides(dst_shape, shape);
  std::vector<T> want = dst0;
  cpu::sum_to_broadcast<T>(src.data(), shape.data(), int(shape.size()), want.data(), ds.data());
  DeviceBuffer<T> dsrc(src), ddst(dst0);
  cuda::sum_to_broadcast<T>(dsrc.get(), shape.data(), int(shape.size()), ddst.get(), ds.data());
  // The CPU sums in T, the GPU in double: allow for the CPU's rounding over long sums.
  const double rtol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  expect_close(ddst.download(), want, rtol, "sum_to_broadcast", rtol * std::sqrt(double(product(shape))));
}

template <class T>
void check_all_sum_to_broadcast() {
  uint32_t seed = 300;
  check_sum_to_broadcast<T>({37}, {1}, seed++);                    // full sum
  check_sum_to_broadcast<T>({37}, {37}, seed++);                   // identity
  check_sum_to_broadcast<T>({5, 33}, {1, 33}, seed++);             // bias gradient, short
  check_sum_to_broadcast<T>({1000, 45}, {1, 45}, seed++);          // bias gradient, chunked
  check_sum_to_broadcast<T>({45, 1000}, {45, 1}, seed++);          // row sums (warp per row)
  check_sum_to_broadcast<T>({7, 3}, {7, 1}, seed++);               // short rows
  check_sum_to_broadcast<T>({3, 1, 7, 45}, {1, 1, 7, 1}, seed++);  // several summed dims
  check_sum_to_broadcast<T>({2, 3, 1, 5, 4, 3}, {1, 3, 1, 1, 4, 1}, seed++);
  check_sum_to_broadcast<T>({130, 3, 70}, {1, 3, 1}, seed++);      // summed dims on both sides
}

// ---- unary ---------------------------------------------------------------------------------------------
const UnaryOp kUnaryOps[] = {UnaryOp::exp,     UnaryOp::log,        UnaryOp::sqrt, UnaryOp::tanh,
                             UnaryOp::sigmoid, UnaryOp::quick_gelu, UnaryOp::gelu, UnaryOp::neg,
                             UnaryOp::relu,    UnaryOp::relu6};
const char* unary_name(UnaryOp op) {
  const char* names[] = {"exp", "log", "sqrt", "tanh", "sigmoid", "quick_gelu", "gelu", "neg", "relu", "relu6"};
  return names[int(op)];
}

template <class T>
void check_unary(UnaryOp op, size_t n, uint32_t seed) {
  const bool positive = op == UnaryOp::log || op == UnaryOp::sqrt;
  const double wide = op == UnaryOp::relu6 ? 9.0 : 4.0;  // relu6 also clamps at 6
  const auto x = positive ? random_vector<T>(n, seed, 0.05, 3.0) : random_vector<T>(n, seed, -wide, wide);
  const auto gy = random_vector<T>(n, seed + 1);
  std::vector<T> y(n), gx(n);
  cpu::unary_forward<T>(op, x.data(), y.data(), int64_t(n));
  cpu::unary_backward<T>(op, x.data(), y.data(), gy.data(), gx.data(), int64_t(n));
  DeviceBuffer<T> dx(x), dgy(gy);
  PoisonedBuffer<T> dy(n), dgx(n);
  cuda::unary_forward<T>(op, dx.get(), dy.get(), int64_t(n));
  // The backward reads y from the GPU forward, as an op would.
  cuda::unary_backward<T>(op, dx.get(), dy.get(), dgy.get(), dgx.get(), int64_t(n));
  const double rtol = default_rtol<T>();
  expect_close(dy.download(), y, rtol, std::string("unary_forward ") + unary_name(op));
  expect_close(dgx.download(), gx, rtol, std::string("unary_backward ") + unary_name(op));
}

// The fused bias + QuickGELU over [rows, cols].
template <class T>
void check_bias_quick_gelu(int64_t rows, int64_t cols, uint32_t seed) {
  const size_t n = size_t(rows * cols);
  const auto x = random_vector<T>(n, seed, -4.0, 4.0), bias = random_vector<T>(size_t(cols), seed + 1);
  const auto gy = random_vector<T>(n, seed + 2);
  std::vector<T> y(n), gx(n);
  cpu::bias_quick_gelu_forward<T>(x.data(), bias.data(), y.data(), rows, cols);
  cpu::bias_quick_gelu_backward<T>(x.data(), bias.data(), gy.data(), gx.data(), rows, cols);
  DeviceBuffer<T> dx(x), dbias(bias), dgy(gy);
  PoisonedBuffer<T> dy(n), dgx(n);
  cuda::bias_quick_gelu_forward<T>(dx.get(), dbias.get(), dy.get(), rows, cols);
  cuda::bias_quick_gelu_backward<T>(dx.get(), dbias.get(), dgy.get(), dgx.get(), rows, cols);
  const std::string what = "bias_quick_gelu " + std::to_string(rows) + "x" + std::to_string(cols);
  expect_close(dy.download(), y, default_rtol<T>(), what + " forward");
  expect_close(dgx.download(), gx, default_rtol<T>(), what + " backward");
}

}  // namespace

TEST_CASE("cuda bias_quick_gelu matches the CPU, forward and backward", "[cuda][elementwise]") {
  XCLIP_REQUIRE_GPU();
  uint32_t seed = 700;
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {1, 3073}, {50, 1}, {77, 2049}})
    for (int d = 0; d < 2; ++d) d == 0 ? check_bias_quick_gelu<float>(rows, cols, seed++)
                                       : check_bias_quick_gelu<double>(rows, cols, seed++);
}

TEST_CASE("cuda binary_broadcast matches the CPU for every op and broadcast pattern", "[cuda][elementwise]") {
  XCLIP_REQUIRE_GPU();
  check_all_binary<float>();
  check_all_binary<double>();
}

TEST_CASE("cuda sum_to_broadcast accumulates the broadcast gradient like the CPU", "[cuda][elementwise]") {
  XCLIP_REQUIRE_GPU();
  check_all_sum_to_broadcast<float>();
  check_all_sum_to_broadcast<double>();
}

TEST_CASE("cuda unary_forward/backward match the CPU for every function", "[cuda][elementwise]") {
  XCLIP_REQUIRE_GPU();
  uint32_t seed = 700;
  for (UnaryOp op : kUnaryOps)
    for (size_t n : {size_t(1), size_t(37), size_t(100003)}) {
      check_unary<float>(op, n, seed++);
      check_unary<double>(op, n, seed++);
    }
}

TEST_CASE("cuda affine matches the CPU", "[cuda][elementwise]") {
  XCLIP_REQUIRE_GPU();
  for (size_t n : {size_t(1), size_t(1025)}) {
    const auto x = random_vector<float>(n, 11);
    std::vector<float> want(n);
    cpu::affine<float>(x.data(), want.data(), int64_t(n), 1.7f, -0.3f);
    DeviceBuffer<float> dx(x);
    PoisonedBuffer<float> dy(n);
    cuda::affine<float>(dx.get(), dy.get(), int64_t(n), 1.7f, -0.3f);
    expect_close(dy.download(), want, 1e-5, "affine f32");

    const auto xd = random_vector<double>(n, 12);
    std::vector<double> wantd(n);
    cpu::affine<double>(xd.data(), wantd.data(), int64_t(n), 1.7, -0.3);
    DeviceBuffer<double> dxd(xd);
    PoisonedBuffer<double> dyd(n);
    cuda::affine<double>(dxd.get(), dyd.get(), int64_t(n), 1.7, -0.3);
    expect_close(dyd.download(), wantd, 1e-12, "affine f64");
  }
}

#else
TEST_CASE("cuda elementwise: skipped in a build without CUDA", "[cuda][elementwise]") {
  XCLIP_SKIP("built without CUDA");
}
#endif
