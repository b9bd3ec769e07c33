// f64 finite-difference gradient checks: matmul (all transpose flags, batched, shared operand),
// linear, multi-head attention (no mask, causal, padding), patch-embedding conv.
#include <cmath>

#include "grad_util.hpp"

using namespace xclip;
using xclip::test::check_gradients;
using xclip::test::param;

TEST_CASE("matmul gradients, 2-d, every transpose combination", "[grad][matmul]") {
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      DYNAMIC_SECTION("trans_a " << ta << " trans_b " << tb) {
        Tensor a = param(ta ? Shape{4, 3} : Shape{3, 4}, 1);
        Tensor b = param(tb ? Shape{5, 4} : Shape{4, 5}, 2);
        check_gradients([&](const auto& in) { return ops::matmul(in[0], in[1], ta, tb); }, {a, b});
      }
    }
}

TEST_CASE("matmul gradients, batched 3-d and 4-d", "[grad][matmul]") {
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      DYNAMIC_SECTION("3-d trans_a " << ta << " trans_b " << tb) {
        Tensor a = param(ta ? Shape{2, 4, 3} : Shape{2, 3, 4}, 3);
        Tensor b = param(tb ? Shape{2, 5, 4} : Shape{2, 4, 5}, 4);
        check_gradients([&](const auto& in) { return ops::matmul(in[0], in[1], ta, tb); }, {a, b});
      }
    }
  Tensor a = param(Shape{2, 2, 3, 4}, 5), b = param(Shape{2, 2, 4, 3}, 6);
  check_gradients([](const auto& in) { return ops::matmul(in[0], in[1]); }, {a, b});
}

TEST_CASE("matmul gradients, 3-d times a shared 2-d matrix", "[grad][matmul]") {
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      DYNAMIC_SECTION("trans_a " << ta << " trans_b " << tb) {
        Tensor a = param(ta ? Shape{3, 4, 2} : Shape{3, 2, 4}, 7);
        Tensor b = param(tb ? Shape{5, 4} : Shape{4, 5}, 8);
        check_gradients([&](const auto& in) { return ops::matmul(in[0], in[1], ta, tb); }, {a, b});
      }
    }
}

TEST_CASE("linear gradients with and without bias", "[grad][linear]") {
  Tensor x = param(Shape{2, 3, 4}, 9), w = param(Shape{5, 4}, 10), b = param(Shape{5}, 11);
  check_gradients([](const auto& in) { return ops::linear(in[0], in[1], in[2]); }, {x, w, b});
  check_gradients([](const auto& in) { return ops::linear(in[0], in[1]); }, {x, w});
}

namespace {
struct AttnParams {
  Tensor x, w_in, b_in, w_out, b_out;
};
AttnParams attn_params(int64_t B, int64_t L, int64_t D) {
  return {param(Shape{B, L, D}, 20), param(Shape{3 * D, D}, 21, -0.5, 0.5), param(Shape{3 * D}, 22),
          param(Shape{D, D}, 23, -0.5, 0.5), param(Shape{D}, 24)};
}
}  // namespace

TEST_CASE("multi_head_attention gradients", "[grad][attention]") {
  AttnParams p = attn_params(2, 4, 6);
  std::vector<Tensor> in = {p.x, p.w_in, p.b_in, p.w_out, p.b_out};
  SECTION("no mask") {
    check_gradients([](const auto& t) { return ops::multi_head_attention(t[0], t[1], t[2], t[3], t[4], 2); }, in);
  }
  SECTION("causal mask (-inf above the diagonal)") {
    Tensor mask = ops::causal_mask(4, DType::f64);
    check_gradients(
        [&](const auto& t) { return ops::multi_head_attention(t[0], t[1], t[2], t[3], t[4], 3, mask); }, in);
  }
  SECTION("padding mask [B, 1, L] as the temporal encoder builds it") {
    // (1 − mask)·(−1e6): the second sequence has its last two positions padded.
    Tensor mask = Tensor::from_vector<double>({0, 0, 0, 0, 0, 0, -1e6, -1e6}, Shape{2, 1, 4});
    check_gradients(
        [&](const auto& t) { return ops::multi_head_attention(t[0], t[1], t[2], t[3], t[4], 2, mask); }, in);
  }
  SECTION("per-sequence mask [B, L, L]") {
    Generator g(5);
    Tensor mask = Tensor::uniform(Shape{2, 4, 4}, g, -2, 0, DType::f64);
    check_gradients(
        [&](const auto& t) { return ops::multi_head_attention(t[0], t[1], t[2], t[3], t[4], 1, mask); }, in);
  }
}

TEST_CASE("patch_embed gradients (kernel = stride = patch, no bias)", "[grad][conv]") {
  SECTION("exact grid") {
    Tensor x = param(Shape{2, 3, 8, 8}, 30), w = param(Shape{5, 3, 4, 4}, 31);
    check_gradients([](const auto& in) { return ops::patch_embed(in[0], in[1]); }, {x, w});
  }
  SECTION("image not a multiple of the patch: the remainder is dropped, its gradient is 0") {
    Tensor x = param(Shape{1, 2, 7, 9}, 32), w = param(Shape{3, 2, 3, 3}, 33);
    check_gradients([](const auto& in) { return ops::patch_embed(in[0], in[1]); }, {x, w});
  }
}

TEST_CASE("patch_embed matches a direct convolution", "[conv]") {
  Generator g(40);
  Tensor x = Tensor::randn(Shape{1, 2, 6, 6}, g, DType::f64), w = Tensor::randn(Shape{4, 2, 3, 3}, g, DType::f64);
  Tensor y = ops::patch_embed(x, w);  // [1, 4, 4]
  REQUIRE(y.shape() == Shape{1, 4, 4});
  const double* xv = x.data<double>();
  const double* wv = w.data<double>();
  for (int gy = 0; gy < 2; ++gy)
    for (int gx = 0; gx < 2; ++gx)
      for (int o = 0; o < 4; ++o) {
        double s = 0;
        for (int c = 0; c < 2; ++c)
          for (int ky = 0; ky < 3; ++ky)
            for (int kx = 0; kx < 3; ++kx)
              s += xv[(c * 6 + gy * 3 + ky) * 6 + gx * 3 + kx] * wv[((o * 2 + c) * 3 + ky) * 3 + kx];
        CHECK(y.data<double>()[(gy * 2 + gx) * 4 + o] == Approx(s).epsilon(1e-12));
      }
}
