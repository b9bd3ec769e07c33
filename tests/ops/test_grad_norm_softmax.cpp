// f64 finite-difference gradient checks: layer_norm (CLIP eps 1e-5, temporal encoder 1e-12),
// softmax / log_softmax along every axis with temperature and masks, L2 normalisation.
#include <limits>

#include "grad_util.hpp"

using namespace xclip;
using xclip::test::check_gradients;
using xclip::test::constant;
using xclip::test::param;

TEST_CASE("layer_norm gradients", "[grad][layer_norm]") {
  for (double eps : {1e-5, 1e-12}) {
    DYNAMIC_SECTION("eps " << eps) {
      Tensor x = param(Shape{2, 3, 5}, 1, -2, 2), w = param(Shape{5}, 2), b = param(Shape{5}, 3);
      check_gradients([eps](const auto& in) { return ops::layer_norm(in[0], in[1], in[2], eps); }, {x, w, b});
    }
  }
  SECTION("without affine parameters") {
    Tensor x = param(Shape{4, 6}, 4);
    check_gradients([](const auto& in) { return ops::layer_norm(in[0], Tensor(), Tensor(), 1e-5); }, {x});
  }
}

TEST_CASE("softmax and log_softmax gradients along every axis", "[grad][softmax]") {
  for (int axis : {0, 1, 2, -1}) {
    DYNAMIC_SECTION("axis " << axis) {
      Tensor x = param(Shape{2, 3, 4}, 5, -2, 2);
      check_gradients([axis](const auto& in) { return ops::softmax(in[0], axis); }, {x});
      check_gradients([axis](const auto& in) { return ops::log_softmax(in[0], axis); }, {x});
    }
  }
}

TEST_CASE("softmax with temperature 0.01 (the AOSM temperature)", "[grad][softmax]") {
  // Inputs spread like cosine similarities; with τ = 0.01 the distribution is sharp but not one-hot.
  Tensor x = param(Shape{3, 5}, 6, -0.03, 0.03);
  check_gradients([](const auto& in) { return ops::softmax(in[0], 1, 0.01); }, {x});
  check_gradients([](const auto& in) { return ops::softmax(in[0], 0, 0.01); }, {x});
  check_gradients([](const auto& in) { return ops::log_softmax(in[0], 1, 0.01); }, {x});
}

TEST_CASE("softmax with an additive mask", "[grad][softmax]") {
  Tensor x = param(Shape{2, 3, 4}, 7);
  SECTION("broadcast mask with -inf entries") {
    const double inf = std::numeric_limits<double>::infinity();
    Tensor mask = Tensor::from_vector<double>({0, 0, -inf, -inf, 0, 0, 0, -inf}, Shape{2, 1, 4});
    check_gradients([&](const auto& in) { return ops::softmax(in[0], -1, 1.0, mask); }, {x});
    check_gradients([&](const auto& in) { return ops::softmax(in[0], -1, 0.01, mask); }, {x});
  }
  SECTION("dense finite mask that itself requires grad") {
    Tensor m = param(Shape{3, 4}, 8);
    check_gradients([](const auto& in) { return ops::softmax(in[0], -1, 0.5, in[1]); }, {x, m});
  }
  SECTION("masked entries get exactly zero probability") {
    const double inf = std::numeric_limits<double>::infinity();
    Tensor mask = Tensor::from_vector<double>({0, -inf, 0, -inf}, Shape{4});
    Tensor y = ops::softmax(constant(Shape{2, 4}, 9), -1, 1.0, mask);
    auto v = y.to_vector<double>();
    CHECK(v[1] == 0.0);
    CHECK(v[3] == 0.0);
    CHECK(v[0] + v[2] == Approx(1.0).epsilon(1e-15));
  }
}

TEST_CASE("l2_normalize gradients", "[grad][l2]") {
  Tensor x = param(Shape{3, 4}, 10);
  check_gradients([](const auto& in) { return ops::l2_normalize(in[0], -1); }, {x});
  check_gradients([](const auto& in) { return ops::l2_normalize(in[0], 0); }, {x});
  check_gradients([](const auto& in) { return ops::l2_normalize(in[0], 1, 1e-3); }, {x});
}
