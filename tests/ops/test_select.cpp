// Selection and dropout ops (ops/select.cpp): top-k against a sort, ties, the mask, the f64
// gradient check of the top-k gather; dropout's rate, its reproducibility from (seed, stream), and
// its gradient (the same mask).
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>

#include "grad_util.hpp"
#include "xclip/autograd.hpp"

using namespace xclip;

TEST_CASE("topk: the k largest along an axis, sorted, the lower position first on ties", "[ops][select]") {
  Generator gen(3);
  const Tensor x = Tensor::uniform(Shape{4, 10, 3}, gen, -1, 1, DType::f64);
  const auto v = x.to_vector<double>();
  const Tensor idx = ops::topk_indices(x, 1, 4);
  const Tensor val = ops::topk(x, 1, 4);
  REQUIRE(idx.shape() == Shape{4, 4, 3});
  const auto got_i = idx.to_vector<int64_t>();
  const auto got_v = val.to_vector<double>();
  for (int64_t o = 0; o < 4; ++o)
    for (int64_t i = 0; i < 3; ++i) {
      std::vector<int64_t> order(10);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t a, int64_t b) { return v[size_t((o * 10 + a) * 3 + i)] > v[size_t((o * 10 + b) * 3 + i)]; });
      for (int64_t r = 0; r < 4; ++r) {
        CHECK(got_i[size_t((o * 4 + r) * 3 + i)] == order[size_t(r)]);
        CHECK(got_v[size_t((o * 4 + r) * 3 + i)] == v[size_t((o * 10 + order[size_t(r)]) * 3 + i)]);
      }
    }
  const Tensor ties = Tensor::from_vector<double>({0.5, 0.1, 0.5, 0.9, 0.5}, Shape{5});
  CHECK(ops::topk_indices(ties, 0, 4).to_vector<int64_t>() == std::vector<int64_t>{3, 0, 2, 4});
  CHECK(ops::topk_mask(ties, 0, 2).to_vector<double>() == std::vector<double>{1, 0, 0, 1, 0});
  CHECK_THROWS_WITH(ops::topk(ties, 0, 6), Catch::Contains("k = 6"));
  CHECK_THROWS_WITH(ops::topk(ties, 0, 0), Catch::Contains("k = 0"));
}

TEST_CASE("topk gradcheck (f64): the gradient scatters into the picked positions", "[ops][select][grad]") {
  Tensor x = test::param(Shape{3, 8, 2}, 4);
  const Tensor w = test::constant(Shape{3, 3, 2}, 5);
  test::check_gradients([&](const std::vector<Tensor>& in) { return ops::sum_all(ops::mul(ops::topk(in[0], 1, 3), w)); },
                        {x});
  const Tensor w_last = test::constant(Shape{3, 8, 1}, 6);
  test::check_gradients(
      [&](const std::vector<Tensor>& in) { return ops::sum_all(ops::mul(ops::topk(in[0], -1, 1), w_last)); }, {x});
}

TEST_CASE("dropout: rate, scale, reproducible from (seed, stream), gradient through the same mask", "[ops][select]") {
  const Tensor x = Tensor::ones(Shape{200, 100}, DType::f64);
  const auto y = ops::dropout(x, 0.3, 7, 11).to_vector<double>();
  int64_t dropped = 0;
  for (double v : y) {
    CHECK((v == 0.0 || v == Approx(1.0 / 0.7).epsilon(1e-15)));
    dropped += v == 0.0;
  }
  CHECK(double(dropped) / double(y.size()) == Approx(0.3).margin(0.02));
  CHECK(ops::dropout(x, 0.3, 7, 11).to_vector<double>() == y);
  CHECK(ops::dropout(x, 0.3, 7, 12).to_vector<double>() != y);
  CHECK(ops::dropout(x, 0.3, 8, 11).to_vector<double>() != y);
  CHECK(ops::dropout(x, 0.0, 7, 11).to_vector<double>() == x.to_vector<double>());
  CHECK_THROWS_WITH(ops::dropout(x, 1.0, 7, 11), Catch::Contains("dropout"));
  // f32 draws the same mask as f64 (the hash does not depend on the type).
  const auto y32 = ops::dropout(x.to(DType::f32), 0.3, 7, 11).to_vector<double>();
  for (size_t i = 0; i < y.size(); ++i) CHECK((y32[i] == 0.0) == (y[i] == 0.0));
  Tensor p = test::param(Shape{5, 7}, 9);
  test::check_gradients([](const std::vector<Tensor>& in) { return ops::sum_all(ops::mul(ops::dropout(in[0], 0.5, 3, 4), in[0])); },
                        {p});
}
