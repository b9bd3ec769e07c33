// cuBLAS GEMMs against the CPU reference GEMM: every transpose combination, awkward sizes,
// padded leading dimensions, alpha/beta, batched with shared operands, TF32 and bf16.
#include "cuda_test_util.hpp"

#ifdef XCLIP_WITH_CUDA
using namespace xclip;
using namespace xclip::test;

namespace {

struct GemmCase {
  int64_t M, N, K;
};
// Not multiples of 32, with length-1 dims.
const GemmCase kCases[] = {{1, 1, 1}, {37, 1, 65}, {1, 45, 33}, {33, 17, 129}, {70, 93, 31}, {5, 7, 1}};

// A stored operand: `rows` × `cols` row-major with leading dimension cols + pad.
struct Operand {
  int64_t rows, cols, ld;
  int64_t size() const { return rows * ld; }
};
Operand operand(bool trans, int64_t r, int64_t c, int64_t pad) {
  return trans ? Operand{c, r, r + pad} : Operand{r, c, c + pad};
}

// The scale of each element of alpha·op(A)·op(B) + beta·C: |alpha|·(|op(A)|·|op(B)|) + |beta·C|,
// computed in double. Two correct f32 GEMMs (the CPU's, cuBLAS') differ by rounding errors that
// grow with this sum of magnitudes, not with the result, which cancellation can make tiny.
template <class T>
std::vector<double> gemm_magnitudes(const GemmCase& g, bool ta, bool tb, T alpha, T beta, int64_t batch,
                                    const std::vector<T>& A, int64_t lda, int64_t stride_a, const std::vector<T>& B,
                                    int64_t ldb, int64_t stride_b, const std::vector<T>& C0, int64_t ldc,
                                    int64_t stride_c) {
  auto abs_of = [](const std::vector<T>& v) {
    std::vector<double> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) out[i] = std::abs(double(v[i]));
    return out;
  };
  const std::vector<double> absA = abs_of(A), absB = abs_of(B);
  std::vector<double> scale = beta == T(0) ? std::vector<double>(C0.size(), 0.0) : abs_of(C0);
  cpu::gemm_batched<double>(ta, tb, g.M, g.N, g.K, std::abs(double(alpha)), absA.data(), lda, stride_a, absB.data(),
                            ldb, stride_b, std::abs(double(beta)), scale.data(), ldc, stride_c, batch);
  return scale;
}

template <class T>
void check_gemm(const GemmCase& g, bool ta, bool tb, T alpha, T beta, int64_t batch, bool shared_a, bool shared_b,
                double rtol, double atol, uint32_t seed) {
  const Operand a = operand(ta, g.M, g.K, 3), b = operand(tb, g.K, g.N, 2);
  const int64_t ldc = g.N + 2, c_size = g.M * ldc;
  const int64_t stride_a = shared_a ? 0 : a.size() + 1, stride_b = shared_b ? 0 : b.size() + 4;
  const int64_t stride_c = c_size + 5;
  const auto A = random_vector<T>(size_t(a.size() + stride_a * (batch - 1)), seed);
  const auto B = random_vector<T>(size_t(b.size() + stride_b * (batch - 1)), seed + 1);
  const size_t c_total = size_t(c_size + stride_c * (batch - 1));
  // beta == 0: C is poisoned and must not leak into the result; otherwise C holds data.
  const auto C0 = beta == T(0) ? poisoned<T>(c_total) : random_vector<T>(c_total, seed + 2);

  std::vector<T> want = C0;
  cpu::gemm_batched<T>(ta, tb, g.M, g.N, g.K, alpha, A.data(), a.ld, stride_a, B.data(), b.ld, stride_b, beta,
                       want.data(), ldc, stride_c, batch);
  DeviceBuffer<T> dA(A), dB(B), dC(C0);
  if (batch == 1)
    cuda::gemm<T>(ta, tb, g.M, g.N, g.K, alpha, dA.get(), a.ld, dB.get(), b.ld, beta, dC.get(), ldc);
  else
    cuda::gemm_batched<T>(ta, tb, g.M, g.N, g.K, alpha, dA.get(), a.ld, stride_a, dB.get(), b.ld, stride_b, beta,
                          dC.get(), ldc, stride_c, batch);
  std::ostringstream what;
  what << "gemm M=" << g.M << " N=" << g.N << " K=" << g.K << " ta=" << ta << " tb=" << tb << " batch=" << batch
       << " beta=" << double(beta);
  // Padding between rows/matrices of C is compared too: it must be left untouched.
  const std::vector<double> scale =
      gemm_magnitudes(g, ta, tb, alpha, beta, batch, A, a.ld, stride_a, B, b.ld, stride_b, C0, ldc, stride_c);
  expect_close(dC.download(), want, rtol, what.str(), atol, &scale, "|alpha|·|A|·|B| + |beta·C|");
}

template <class T>
void check_all_gemms(double rtol) {
  uint32_t seed = 100;
  for (const GemmCase& g : kCases)
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      check_gemm<T>(g, ta, tb, T(1), T(0), 1, false, false, rtol, 0.0, seed++);
      check_gemm<T>(g, ta, tb, T(1.3), T(0.7), 1, false, false, rtol, 0.0, seed++);
    }
}

template <class T>
void check_all_batched(double rtol) {
  uint32_t seed = 500;
  for (const GemmCase& g : kCases)
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      check_gemm<T>(g, ta, tb, T(1), T(0), 3, false, false, rtol, 0.0, seed++);
      check_gemm<T>(g, ta, tb, T(-0.5), T(1), 4, true, false, rtol, 0.0, seed++);  // shared A
      check_gemm<T>(g, ta, tb, T(2), T(0), 2, false, true, rtol, 0.0, seed++);     // shared B
    }
}

}  // namespace

TEST_CASE("cuda gemm f32 matches the CPU GEMM for every transpose and awkward sizes", "[cuda][gemm]") {
  XCLIP_REQUIRE_GPU();
  REQUIRE_FALSE(cuda::allow_tf32());  // full f32 unless asked
  check_all_gemms<float>(1e-5);
}

TEST_CASE("cuda gemm f64 matches the CPU GEMM within 1e-12", "[cuda][gemm]") {
  XCLIP_REQUIRE_GPU();
  check_all_gemms<double>(1e-12);
}

TEST_CASE("cuda gemm_batched f32/f64 with strides and shared operands", "[cuda][gemm]") {
  XCLIP_REQUIRE_GPU();
  check_all_batched<float>(1e-5);
  check_all_batched<double>(1e-12);
}

TEST_CASE("cuda gemm with K = 0 scales C by beta (and writes zeros for beta = 0)", "[cuda][gemm]") {
  XCLIP_REQUIRE_GPU();
  for (float beta : {0.0f, 0.5f}) {
    const int64_t M = 3, N = 5, ldc = 6;
    const auto C0 = beta == 0 ? poisoned<float>(size_t(M * ldc)) : random_vector<float>(size_t(M * ldc), 7);
    std::vector<float> want = C0;
    for (int64_t r = 0; r < M; ++r)
      for (int64_t c = 0; c < N; ++c) want[size_t(r * ldc + c)] = beta == 0 ? 0.0f : beta * C0[size_t(r * ldc + c)];
    DeviceBuffer<float> dA(1), dB(1), dC(C0);
    cuda::gemm<float>(false, false, M, N, 0, 1.0f, dA.get(), 1, dB.get(), N, beta, dC.get(), ldc);
    expect_close(dC.download(), want, 1e-6, "gemm K=0");
  }
}

TEST_CASE("cuda gemm f32 with TF32 allowed stays within the TF32 tolerance", "[cuda][gemm]") {
  XCLIP_REQUIRE_GPU();
  struct Restore {
    ~Restore() { cuda::set_allow_tf32(false); }
  } restore;
  cuda::set_allow_tf32(true);
  REQUIRE(cuda::allow_tf32());
  uint32_t seed = 900;
  for (const GemmCase& g : kCases) {
    // TF32 keeps 10 mantissa bits per operand: each product is within 2·2⁻¹¹ < 1e-3 of |a·b|, so
    // the sum is within 1e-3 of the sum of magnitudes.
    for (int t = 0; t < 4; ++t) {
      check_gemm<float>(g, t & 1, t & 2, 1.0f, 0.0f, 1, false, false, 1e-3, 0.0, seed++);
      check_gemm<float>(g, t & 1, t & 2, 1.0f, 0.0f, 3, false, false, 1e-3, 0.0, seed++);
    }
  }
}

namespace {
// Rounds through bf16 and back, so the CPU reference sees exactly the GPU's inputs.
std::vector<bf16_t> to_bf16(const std::vector<float>& v) {
  std::vector<bf16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = float_to_bf16(v[i]);
  return out;
}
std::vector<double> bf16_to_double(const std::vector<bf16_t>& v) {
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = double(bf16_to_float(v[i]));
  return out;
}

void check_gemm_bf16(const GemmCase& g, bool ta, bool tb, float beta, int64_t batch, uint32_t seed) {
  const Operand a = operand(ta, g.M, g.K, 1), b = operand(tb, g.K, g.N, 0);
  const int64_t ldc = g.N + 1, stride_a = a.size(), stride_b = b.size(), stride_c = g.M * ldc;
  const auto A = to_bf16(random_vector<float>(size_t(stride_a * batch), seed));
  const auto B = to_bf16(random_vector<float>(size_t(stride_b * batch), seed + 1));
  const auto C0 = beta == 0 ? poisoned<float>(size_t(stride_c * batch)) : random_vector<float>(size_t(stride_c * batch), seed + 2);
  // Reference in double on the bf16-rounded inputs.
  std::vector<double> want(C0.begin(), C0.end());
  const auto Ad = bf16_to_double(A), Bd = bf16_to_double(B);
  cpu::gemm_batched<double>(ta, tb, g.M, g.N, g.K, 1.0, Ad.data(), a.ld, stride_a, Bd.data(), b.ld, stride_b,
                            double(beta), want.data(), ldc, stride_c, batch);
  DeviceBuffer<bf16_t> dA(A), dB(B);
  DeviceBuffer<float> dC(C0);
  if (batch == 1)
    cuda::gemm_bf16(ta, tb, g.M, g.N, g.K, 1.0f, dA.get(), a.ld, dB.get(), b.ld, beta, dC.get(), ldc);
  else
    cuda::gemm_batched_bf16(ta, tb, g.M, g.N, g.K, 1.0f, dA.get(), a.ld, stride_a, dB.get(), b.ld, stride_b, beta,
                            dC.get(), ldc, stride_c, batch);
  const auto got = dC.download();
  std::ostringstream what;
  what << "gemm_bf16 M=" << g.M << " N=" << g.N << " K=" << g.K << " ta=" << ta << " tb=" << tb << " batch=" << batch;
  expect_close(std::vector<double>(got.begin(), got.end()), want, 1e-2, what.str());
}
}  // namespace

TEST_CASE("cuda gemm_bf16 (bf16 inputs, f32 accumulation) within 1e-2", "[cuda][gemm]") {
  XCLIP_REQUIRE_GPU();
  uint32_t seed = 1300;
  for (const GemmCase& g : kCases)
    for (int t = 0; t < 4; ++t) {
      check_gemm_bf16(g, t & 1, t & 2, 0.0f, 1, seed++);
      check_gemm_bf16(g, t & 1, t & 2, 0.5f, 3, seed++);
    }
}

TEST_CASE("cuda gemm rejects leading dimensions that are too small", "[cuda][gemm]") {
  XCLIP_REQUIRE_GPU();
  DeviceBuffer<float> dA(64), dB(64), dC(64);
  CHECK_THROWS_AS(cuda::gemm<float>(false, false, 4, 4, 4, 1.0f, dA.get(), 3, dB.get(), 4, 0.0f, dC.get(), 4), Error);
}

#else
TEST_CASE("cuda gemm: skipped in a build without CUDA", "[cuda][gemm]") { XCLIP_SKIP("built without CUDA"); }
#endif
