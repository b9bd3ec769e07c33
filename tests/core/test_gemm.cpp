// CPU GEMM (src/kernels/gemm*.cpp) against a naive triple loop in double, for every instruction
// set this CPU supports (AVX-512, AVX2+FMA, portable), every transpose combination, awkward sizes
// that leave partial register tiles and span several cache blocks, padded row strides, the
// alpha/beta rules, batched products, and thread-count independence.
//
// Tolerance: the rounding-error bound of a length-K dot product, |ĉ − c| ≤ (K + 4)·ε·(|α|·Σ|a||b| + |β||c₀|),
// with ε the element type's epsilon. A wrong element is off by O(1) and fails it.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "../../src/kernels/gemm_kernel.hpp"
#include "xclip/core/error.hpp"
#include "xclip/kernels/cpu.hpp"

namespace {

using xclip::cpu::gemm_detail::select_isa;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Dims {
  int64_t M, N, K;
};

// Sizes around the register tiles (6/14 rows, 8/16/32 columns) and cache blocks (mc ≤ 168,
// kc = 256, nc = 2048/4096): 1, primes, 2^k ± 1, K over two slices, N over one column block.
const std::vector<Dims> kAwkward = {{1, 1, 1},    {1, 17, 3},    {3, 1, 17},    {17, 3, 1},     {63, 65, 127},
                                    {65, 63, 17}, {127, 257, 65}, {257, 127, 63}, {1, 257, 127}, {257, 1, 65},
                                    {13, 300, 5}, {300, 13, 600}, {20, 4100, 40}, {29, 37, 520}};

// A matrix stored row-major with `rows` × `cols` values and row stride ld ≥ cols; the padding
// holds `pad` (NaN by default, so any read of it shows up in the result).
template <class T>
struct Stored {
  int64_t rows, cols, ld;
  std::vector<T> v;
  Stored(int64_t r, int64_t c, int64_t extra, std::mt19937& rng, double pad = kNaN)
      : rows(r), cols(c), ld(c + extra), v(size_t(std::max<int64_t>(r * (c + extra), 1)), T(pad)) {
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < c; ++j) v[size_t(i * ld + j)] = T(u(rng));
  }
  T at(int64_t i, int64_t j) const { return v[size_t(i * ld + j)]; }
};

struct Scalars {
  double alpha, beta;
};

// Fills C, runs gemm, checks every element against the double reference and that the padding
// of C is untouched. Returns C so callers can compare runs bitwise.
template <class T>
std::vector<T> check_gemm(bool ta, bool tb, Dims d, Scalars s, int64_t extra, uint32_t seed) {
  std::mt19937 rng(seed);
  const Stored<T> A(ta ? d.K : d.M, ta ? d.M : d.K, extra, rng);
  const Stored<T> B(tb ? d.N : d.K, tb ? d.K : d.N, extra + 1, rng);
  Stored<T> C(d.M, d.N, extra + 2, rng);
  if (s.beta == 0)  // beta == 0 must not read C: make every element NaN
    std::fill(C.v.begin(), C.v.end(), T(kNaN));
  const std::vector<T> c0 = C.v;
  xclip::cpu::gemm<T>(ta, tb, d.M, d.N, d.K, T(s.alpha), A.v.data(), A.ld, B.v.data(), B.ld, T(s.beta), C.v.data(),
                      C.ld);
  const double eps = std::numeric_limits<T>::epsilon();
  int64_t bad = 0;
  for (int64_t i = 0; i < d.M; ++i)
    for (int64_t j = 0; j < d.N; ++j) {
      double ref = 0, mag = 0;
      for (int64_t k = 0; k < d.K; ++k) {
        const double p = double(ta ? A.at(k, i) : A.at(i, k)) * double(tb ? B.at(j, k) : B.at(k, j));
        ref += p;
        mag += std::fabs(p);
      }
      ref *= s.alpha;
      mag *= std::fabs(s.alpha);
      if (s.beta != 0) {
        ref += s.beta * double(c0[size_t(i * C.ld + j)]);
        mag += std::fabs(s.beta * double(c0[size_t(i * C.ld + j)]));
      }
      const double got = double(C.at(i, j));
      if (!(std::fabs(got - ref) <= double(d.K + 4) * eps * mag + std::numeric_limits<T>::min())) ++bad;
    }
  INFO("M=" << d.M << " N=" << d.N << " K=" << d.K << " trans_a=" << ta << " trans_b=" << tb << " alpha=" << s.alpha
            << " beta=" << s.beta << " extra stride=" << extra);
  CHECK(bad == 0);
  int64_t pad_changed = 0;
  for (int64_t i = 0; i < d.M; ++i)
    for (int64_t j = d.N; j < C.ld; ++j)
      if (std::memcmp(&C.v[size_t(i * C.ld + j)], &c0[size_t(i * C.ld + j)], sizeof(T)) != 0) ++pad_changed;
  CHECK(pad_changed == 0);
  return C.v;
}

// Runs `body` once per instruction set this CPU supports, then restores the automatic choice.
template <class F>
void for_each_isa(F&& body) {
  for (const char* isa : {"generic", "avx2", "avx512"}) {
    if (!select_isa(isa)) {
      WARN("this CPU lacks " << isa << ": that GEMM variant is not tested here");
      continue;
    }
    INFO("instruction set " << isa);
    body();
  }
  select_isa("");
}

// Restores the thread count a test changed.
struct ThreadCountGuard {
  ~ThreadCountGuard() { xclip::cpu::set_num_threads(0); }
};

}  // namespace

TEMPLATE_TEST_CASE("gemm matches a double triple loop for all transposes and awkward sizes", "[gemm]", float,
                   double) {
  for_each_isa([] {
    uint32_t seed = 1;
    for (const Dims& d : kAwkward)
      for (int t = 0; t < 4; ++t) check_gemm<TestType>(t & 1, t & 2, d, {1.0, 0.0}, 0, seed++);
  });
}

TEMPLATE_TEST_CASE("gemm honours row strides larger than the row length", "[gemm]", float, double) {
  for_each_isa([] {
    uint32_t seed = 100;
    for (const Dims& d : {Dims{17, 63, 65}, Dims{127, 65, 257}, Dims{3, 257, 17}})
      for (int t = 0; t < 4; ++t) check_gemm<TestType>(t & 1, t & 2, d, {1.0, 0.5}, 7, seed++);
  });
}

TEMPLATE_TEST_CASE("gemm applies alpha and beta, beta 0 never reads C", "[gemm]", float, double) {
  for_each_isa([] {
    const Scalars cases[] = {{1, 0}, {0.5, 0}, {1, 1}, {-2, 0.25}, {0, 0.5}, {0, 0}};
    uint32_t seed = 200;
    for (const Scalars& s : cases)
      for (const Dims& d : {Dims{5, 7, 3}, Dims{65, 63, 300}})  // the small loop and the blocked path
        for (int t = 0; t < 4; ++t) check_gemm<TestType>(t & 1, t & 2, d, s, 3, seed++);
  });
}

TEMPLATE_TEST_CASE("gemm with K = 0 scales C by beta", "[gemm]", float, double) {
  std::vector<TestType> c = {1, 2, 3, 4};
  xclip::cpu::gemm<TestType>(false, false, 2, 2, 0, 1, nullptr, 1, nullptr, 2, TestType(0.5), c.data(), 2);
  CHECK(c == std::vector<TestType>{0.5, 1, 1.5, 2});
  std::vector<TestType> n(4, TestType(kNaN));
  xclip::cpu::gemm<TestType>(false, false, 2, 2, 0, 1, nullptr, 1, nullptr, 2, 0, n.data(), 2);
  CHECK(n == std::vector<TestType>(4, 0));
}

TEMPLATE_TEST_CASE("gemm gives bitwise identical results with 1 and 2 threads", "[gemm][threads]", float, double) {
  ThreadCountGuard guard;
  for_each_isa([] {
    uint32_t seed = 300;
    for (const Dims& d : {Dims{127, 257, 65}, Dims{300, 13, 600}, Dims{16, 900, 300}, Dims{333, 520, 270}})
      for (int t = 0; t < 4; ++t) {
        xclip::cpu::set_num_threads(1);
        const auto one = check_gemm<TestType>(t & 1, t & 2, d, {1.5, 0.5}, 1, seed);
        xclip::cpu::set_num_threads(2);
        const auto two = check_gemm<TestType>(t & 1, t & 2, d, {1.5, 0.5}, 1, seed);
        INFO("M=" << d.M << " N=" << d.N << " K=" << d.K << " transposes " << t);
        CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(TestType)) == 0);
        ++seed;
      }
  });
}

TEMPLATE_TEST_CASE("gemm gives the same bits whichever register tile the row count selects", "[gemm]", float,
                   double) {
  // Row i of C depends only on row i of op(A), so C computed in one product of 56 rows (14-row
  // tiles on AVX-512) must equal C computed as 24 + 32 rows (12- and 8-row tiles).
  for_each_isa([] {
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      const int64_t M = 56, N = 70, K = 300;
      std::mt19937 rng(500 + t);
      const Stored<TestType> A(ta ? K : M, ta ? M : K, 0, rng), B(tb ? N : K, tb ? K : N, 0, rng);
      std::vector<TestType> whole(size_t(M * N)), parts(size_t(M * N));
      xclip::cpu::gemm<TestType>(ta, tb, M, N, K, 1, A.v.data(), A.ld, B.v.data(), B.ld, 0, whole.data(), N);
      for (const auto& [r0, r1] : {std::pair<int64_t, int64_t>{0, 24}, {24, 56}}) {
        const TestType* a = ta ? A.v.data() + r0 : A.v.data() + r0 * A.ld;
        xclip::cpu::gemm<TestType>(ta, tb, r1 - r0, N, K, 1, a, A.ld, B.v.data(), B.ld, 0, parts.data() + r0 * N, N);
      }
      INFO("transposes " << t);
      CHECK(std::memcmp(whole.data(), parts.data(), whole.size() * sizeof(TestType)) == 0);
    }
  });
}

TEMPLATE_TEST_CASE("gemm called from inside a parallel region gives the single-thread bits", "[gemm][threads]", float,
                   double) {
  // Inside an enclosing OpenMP region the GEMM gets a smaller team than it asks for (nesting is
  // off by default) and each thread then takes several rectangles of C.
  ThreadCountGuard guard;
  const Dims d{150, 260, 90};
  std::vector<std::vector<TestType>> serial(2), nested(2);
  xclip::cpu::set_num_threads(1);
  for (int i = 0; i < 2; ++i) serial[size_t(i)] = check_gemm<TestType>(i == 1, false, d, {1, 0.5}, 2, 600 + i);
  xclip::cpu::set_num_threads(2);
#pragma omp parallel for num_threads(2)
  for (int i = 0; i < 2; ++i) {
    std::mt19937 rng(600 + i);
    const bool ta = i == 1;
    const Stored<TestType> A(ta ? d.K : d.M, ta ? d.M : d.K, 2, rng), B(d.K, d.N, 3, rng);
    Stored<TestType> C(d.M, d.N, 4, rng);
    xclip::cpu::gemm<TestType>(ta, false, d.M, d.N, d.K, 1, A.v.data(), A.ld, B.v.data(), B.ld, TestType(0.5),
                               C.v.data(), C.ld);
    nested[size_t(i)] = C.v;
  }
  for (int i = 0; i < 2; ++i) {
    INFO("trans_a " << i);
    CHECK(std::memcmp(serial[size_t(i)].data(), nested[size_t(i)].data(), serial[size_t(i)].size() * sizeof(TestType)) ==
          0);
  }
}

namespace {

// gemm_batched against one gemm call per entry: must agree bitwise (same kernel, same order).
template <class T>
void check_batched(bool ta, bool tb, Dims d, int64_t batch, bool share_a, bool share_b, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t lda = (ta ? d.M : d.K) + 1, ldb = (tb ? d.K : d.N) + 2, ldc = d.N + 3;
  const int64_t a_size = (ta ? d.K : d.M) * lda, b_size = (tb ? d.N : d.K) * ldb, c_size = d.M * ldc;
  const int64_t sa = share_a ? 0 : a_size + 5, sb = share_b ? 0 : b_size + 6, sc = c_size + 7;
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  auto fill = [&](int64_t n) {
    std::vector<T> v(size_t(std::max<int64_t>(n, 1)));
    for (auto& x : v) x = T(u(rng));
    return v;
  };
  const auto A = fill(share_a ? a_size : sa * batch), B = fill(share_b ? b_size : sb * batch);
  const auto C0 = fill(sc * batch);
  auto batched = C0, single = C0;
  xclip::cpu::gemm_batched<T>(ta, tb, d.M, d.N, d.K, T(0.75), A.data(), lda, sa, B.data(), ldb, sb, T(0.5),
                              batched.data(), ldc, sc, batch);
  for (int64_t i = 0; i < batch; ++i)
    xclip::cpu::gemm<T>(ta, tb, d.M, d.N, d.K, T(0.75), A.data() + i * sa, lda, B.data() + i * sb, ldb, T(0.5),
                        single.data() + i * sc, ldc);
  INFO("batch " << batch << " of M=" << d.M << " N=" << d.N << " K=" << d.K << " trans " << ta << tb
                << " shared a/b " << share_a << share_b);
  CHECK(std::memcmp(batched.data(), single.data(), batched.size() * sizeof(T)) == 0);
}

}  // namespace

TEMPLATE_TEST_CASE("gemm_batched equals one gemm per entry, with shared operands", "[gemm][batched]", float,
                   double) {
  // Each entry itself is checked against the double reference by the tests above.
  ThreadCountGuard guard;
  for (int threads : {1, 2}) {
    xclip::cpu::set_num_threads(threads);
    uint32_t seed = 400;
    for (int t = 0; t < 4; ++t) {
      // Many small products (one per thread), a few large ones (all threads per product), tiny ones.
      check_batched<TestType>(t & 1, t & 2, {50, 50, 64}, 24, false, false, seed++);
      check_batched<TestType>(t & 1, t & 2, {50, 64, 50}, 7, false, true, seed++);
      check_batched<TestType>(t & 1, t & 2, {300, 200, 270}, 3, true, false, seed++);
      check_batched<TestType>(t & 1, t & 2, {3, 5, 2}, 9, false, false, seed++);
    }
  }
}

TEMPLATE_TEST_CASE("gemm_batched with C stride 0 accumulates every entry into one C", "[gemm][batched]", float,
                   double) {
  ThreadCountGuard guard;
  xclip::cpu::set_num_threads(2);
  // C = A0·B + A1·B + A2·B (+ C0) with beta = 1, entries in order; values are small integers so
  // every sum is exact and the expected C can be written down.
  const int64_t M = 70, N = 80, K = 90, batch = 3;
  std::vector<TestType> A(size_t(batch * M * K)), B(size_t(K * N)), C(size_t(M * N), 1);
  for (size_t i = 0; i < A.size(); ++i) A[i] = TestType(int(i % 5) - 2);
  for (size_t i = 0; i < B.size(); ++i) B[i] = TestType(int(i % 3) - 1);
  xclip::cpu::gemm_batched<TestType>(false, false, M, N, K, 1, A.data(), K, M * K, B.data(), N, 0, 1, C.data(), N, 0,
                                     batch);
  int64_t bad = 0;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double ref = 1;
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t k = 0; k < K; ++k) ref += double(A[size_t(b * M * K + i * K + k)]) * double(B[size_t(k * N + j)]);
      if (double(C[size_t(i * N + j)]) != ref) ++bad;
    }
  CHECK(bad == 0);
}

TEST_CASE("gemm rejects negative sizes and too-small row strides", "[gemm][errors]") {
  float a[4] = {}, b[4] = {}, c[4] = {};
  CHECK_THROWS_AS(xclip::cpu::gemm<float>(false, false, -1, 2, 2, 1, a, 2, b, 2, 0, c, 2), xclip::Error);
  CHECK_THROWS_WITH(xclip::cpu::gemm<float>(false, false, 2, 2, 2, 1, a, 1, b, 2, 0, c, 2),
                    Catch::Contains("row stride too small"));
  CHECK_THROWS_WITH(xclip::cpu::gemm<float>(true, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 1),
                    Catch::Contains("row stride too small"));
  CHECK_THROWS_AS(xclip::cpu::gemm_batched<float>(false, false, 2, 2, 2, 1, a, 2, 0, b, 2, 0, 0, c, 2, 0, -1),
                  xclip::Error);
}

TEST_CASE("set_num_threads sets the GEMM thread count and 0 restores the default", "[gemm][threads]") {
  ThreadCountGuard guard;
  const int default_threads = xclip::cpu::num_threads();
  CHECK(default_threads >= 1);
  xclip::cpu::set_num_threads(1);
  CHECK(xclip::cpu::num_threads() == 1);
  xclip::cpu::set_num_threads(3);
  CHECK(xclip::cpu::num_threads() == 3);
  xclip::cpu::set_num_threads(0);
  CHECK(xclip::cpu::num_threads() == default_threads);
}
