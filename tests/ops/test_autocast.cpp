// bf16 autocast (ops.hpp): matmul under AutocastBf16Guard is the f32 matmul of the operands rounded
// to bf16, bit for bit on the CPU (products of bf16 values are exact in f32), forward and backward;
// the guard nests; f64 is never autocast. Plus the CPU bf16 GEMM against a double reference.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "xclip/kernels/cpu.hpp"
#include "xclip/ops.hpp"

using namespace xclip;

namespace {

Tensor random_f32(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return Tensor::randn(s, g);
}

Tensor rounded_bf16(const Tensor& x) { return x.to(DType::bf16).to(DType::f32); }

struct Grads {
  Tensor out, ga, gb;
};

// out = op(a)·op(b) and the gradients for the upstream gradient `up`, with or without autocast.
Grads run(const Tensor& a0, const Tensor& b0, bool ta, bool tb, const Tensor& up, bool autocast) {
  Tensor a = a0.detach(), b = b0.detach();
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  ops::AutocastBf16Guard guard(autocast);
  Tensor out = ops::matmul(a, b, ta, tb);
  out.backward(up);
  return {out, a.grad(), b.grad()};
}

void check_case(const Shape& as, const Shape& bs, bool ta, bool tb, uint64_t seed) {
  const Tensor a = random_f32(as, seed), b = random_f32(bs, seed + 1);
  Shape os = ops::matmul(a, b, ta, tb).shape();
  const Tensor up = random_f32(os, seed + 2);
  const Grads autocast = run(a, b, ta, tb, up, true);
  // The reference: plain f32 matmul of rounded operands, backpropagating the rounded gradient.
  const Grads expected = run(rounded_bf16(a), rounded_bf16(b), ta, tb, rounded_bf16(up), false);
  const Grads plain = run(a, b, ta, tb, up, false);
  CHECK(autocast.out.dtype() == DType::f32);
  CHECK(autocast.ga.dtype() == DType::f32);
  CHECK(autocast.out.to_vector<float>() == expected.out.to_vector<float>());
  CHECK(autocast.ga.to_vector<float>() == expected.ga.to_vector<float>());
  CHECK(autocast.gb.to_vector<float>() == expected.gb.to_vector<float>());
  // ... and it is not the f32 product (bf16 keeps 8 significant bits of random normals).
  CHECK(autocast.out.to_vector<float>() != plain.out.to_vector<float>());
  CHECK(autocast.ga.to_vector<float>() != plain.ga.to_vector<float>());
}

}  // namespace

TEST_CASE("autocast matmul equals the f32 matmul of bf16-rounded operands, forward and backward",
          "[ops][autocast]") {
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      DYNAMIC_SECTION("2-d trans_a " << ta << " trans_b " << tb) {
        check_case(ta ? Shape{37, 5} : Shape{5, 37}, tb ? Shape{9, 37} : Shape{37, 9}, ta, tb, 10);
      }
      DYNAMIC_SECTION("batched trans_a " << ta << " trans_b " << tb) {
        check_case(ta ? Shape{3, 33, 7} : Shape{3, 7, 33}, tb ? Shape{3, 6, 33} : Shape{3, 33, 6}, ta, tb, 20);
      }
      DYNAMIC_SECTION("shared b trans_a " << ta << " trans_b " << tb) {
        check_case(ta ? Shape{4, 35, 3} : Shape{4, 3, 35}, tb ? Shape{5, 35} : Shape{35, 5}, ta, tb, 30);
      }
    }
}

TEST_CASE("linear and attention go through the autocast matmul", "[ops][autocast]") {
  const Tensor x = random_f32(Shape{2, 5, 8}, 1), w = random_f32(Shape{24, 8}, 2), bias = random_f32(Shape{24}, 3);
  const Tensor ow = random_f32(Shape{8, 8}, 4), ob = random_f32(Shape{8}, 5);
  std::vector<float> plain = ops::multi_head_attention(x, w, bias, ow, ob, 2).to_vector<float>(), cast;
  {
    ops::AutocastBf16Guard guard;
    cast = ops::multi_head_attention(x, w, bias, ow, ob, 2).to_vector<float>();
    // linear = rounded operands, f32 bias add.
    const Tensor y = ops::linear(x, w, bias);
    ops::AutocastBf16Guard off(false);
    const Tensor expected = ops::linear(rounded_bf16(x), rounded_bf16(w), bias);
    CHECK(y.to_vector<float>() == expected.to_vector<float>());
  }
  REQUIRE(plain.size() == cast.size());
  double worst = 0, scale = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    worst = std::max(worst, double(std::abs(plain[i] - cast[i])));
    scale = std::max(scale, double(std::abs(plain[i])));
  }
  INFO("attention: max |bf16 - f32| = " << worst << " of " << scale);
  CHECK(worst > 0);
  CHECK(worst <= 2e-2 * scale);
}

TEST_CASE("the autocast guard nests and f64 is never autocast", "[ops][autocast]") {
  CHECK_FALSE(ops::autocast_bf16_enabled());
  {
    ops::AutocastBf16Guard on;
    CHECK(ops::autocast_bf16_enabled());
    {
      ops::AutocastBf16Guard off(false);
      CHECK_FALSE(ops::autocast_bf16_enabled());
    }
    CHECK(ops::autocast_bf16_enabled());
    Generator g(5);
    const Tensor a = Tensor::randn(Shape{6, 7}, g, DType::f64), b = Tensor::randn(Shape{7, 3}, g, DType::f64);
    const Tensor y = ops::matmul(a, b);
    CHECK(y.dtype() == DType::f64);
    ops::AutocastBf16Guard off(false);
    CHECK(y.to_vector<double>() == ops::matmul(a, b).to_vector<double>());
  }
  CHECK_FALSE(ops::autocast_bf16_enabled());
}

TEST_CASE("cpu::gemm_batched_bf16 against a double reference, padded strides and beta", "[kernels][autocast]") {
  const int64_t M = 5, N = 7, K = 19, lda = K + 3, ldb = N + 2, ldc = N + 1, batch = 3;
  const int64_t sa = M * lda + 4, sb = K * ldb + 1, sc = M * ldc + 2;
  Generator g(9);
  std::vector<bf16_t> A(size_t(batch * sa)), B(size_t(batch * sb));
  for (auto& v : A) v = float_to_bf16(float(g.next_normal()));
  for (auto& v : B) v = float_to_bf16(float(g.next_normal()));
  std::vector<float> C(size_t(batch * sc), 1.5f);
  const float alpha = 0.75f, beta = -0.5f;
  cpu::gemm_batched_bf16(false, false, M, N, K, alpha, A.data(), lda, sa, B.data(), ldb, sb, beta, C.data(), ldc, sc,
                         batch);
  for (int64_t r = 0; r < batch; ++r)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k)
          acc += double(bf16_to_float(A[size_t(r * sa + i * lda + k)])) * bf16_to_float(B[size_t(r * sb + k * ldb + j)]);
        const double expected = alpha * acc + beta * 1.5;
        CHECK(std::abs(C[size_t(r * sc + i * ldc + j)] - expected) <= 1e-5 * (1 + std::abs(expected)));
      }
  // The padding between rows and matrices is left alone.
  CHECK(C[size_t(N)] == 1.5f);
  CHECK(C[size_t(M * ldc)] == 1.5f);
}
