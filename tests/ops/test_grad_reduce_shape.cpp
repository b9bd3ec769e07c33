// f64 finite-difference gradient checks: reductions (keepdim), masked mean, shape ops (reshape,
// permutes, concat, narrow), indexing (index_select, gather, select_rows), cross-entropy.
#include "grad_util.hpp"

using namespace xclip;
using xclip::test::check_gradients;
using xclip::test::param;

TEST_CASE("sum, mean, max along an axis, with and without keepdim", "[grad][reduce]") {
  Tensor x = param(Shape{2, 3, 4}, 1);
  for (int axis : {0, 1, 2, -1})
    for (bool keep : {false, true}) {
      DYNAMIC_SECTION("axis " << axis << " keepdim " << keep) {
        check_gradients([=](const auto& in) { return ops::sum(in[0], axis, keep); }, {x});
        check_gradients([=](const auto& in) { return ops::mean(in[0], axis, keep); }, {x});
        check_gradients([=](const auto& in) { return ops::max(in[0], axis, keep); }, {x});
      }
    }
  check_gradients([](const auto& in) { return ops::sum_all(in[0]); }, {x});
  check_gradients([](const auto& in) { return ops::mean_all(in[0]); }, {x});
}

TEST_CASE("max sends the gradient to the first maximum on ties", "[reduce]") {
  Tensor x = Tensor::from_vector<double>({1, 3, 3, 2}, Shape{1, 4});
  x.set_requires_grad(true);
  ops::sum_all(ops::max(x, 1)).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 1, 0, 0});
}

TEST_CASE("masked_mean gradients, including an all-padding row", "[grad][reduce]") {
  Tensor x = param(Shape{3, 4, 2}, 2);
  Tensor mask = Tensor::from_vector<double>({1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0}, Shape{3, 4});
  check_gradients([&](const auto& in) { return ops::masked_mean(in[0], mask, 1); }, {x});
  Tensor y = ops::masked_mean(x.detach(), mask, 1);
  auto v = y.to_vector<double>();
  CHECK(v[4] == 0.0);  // all-padding video: sum 0 divided by 1
  auto xv = x.to_vector<double>();
  CHECK(v[0] == Approx((xv[0] + xv[2]) / 2).epsilon(1e-14));
}

TEST_CASE("reshape, permute and transpose gradients", "[grad][shape]") {
  Tensor x = param(Shape{2, 3, 4}, 3);
  check_gradients([](const auto& in) { return ops::reshape(in[0], Shape{4, -1}); }, {x});
  for (std::vector<int> order : {std::vector<int>{2, 0, 1}, {1, 2, 0}, {0, 2, 1}, {2, 1, 0}})
    check_gradients([order](const auto& in) { return ops::permute(in[0], order); }, {x});
  Tensor y = param(Shape{2, 3, 2, 5}, 4);
  check_gradients([](const auto& in) { return ops::permute(in[0], {3, 1, 0, 2}); }, {y});
  check_gradients([](const auto& in) { return ops::transpose(in[0], 1, 3); }, {y});
  // A permute feeding a matmul: the non-contiguous-looking pattern of attention heads.
  check_gradients(
      [](const auto& in) {
        Tensor heads = ops::permute(in[0], {0, 2, 1, 3});
        return ops::matmul(heads, heads, false, true);
      },
      {y});
}

TEST_CASE("concat, narrow, unsqueeze, squeeze gradients", "[grad][shape]") {
  Tensor a = param(Shape{2, 3}, 5), b = param(Shape{2, 1}, 6), c = param(Shape{2, 4}, 7);
  check_gradients([](const auto& in) { return ops::concat({in[0], in[1], in[2]}, 1); }, {a, b, c});
  Tensor d = param(Shape{1, 3}, 8);
  check_gradients([](const auto& in) { return ops::concat({in[0], in[1]}, 0); }, {a, d});
  Tensor x = param(Shape{3, 5, 2}, 9);
  check_gradients([](const auto& in) { return ops::narrow(in[0], 1, 1, 3); }, {x});
  check_gradients([](const auto& in) { return ops::squeeze(ops::unsqueeze(in[0], 1), 1); }, {x});
}

TEST_CASE("index_select, gather and select_rows gradients", "[grad][index]") {
  Tensor table = param(Shape{6, 3}, 10);
  // Repeated indices: the embedding gradient must accumulate.
  Tensor idx = Tensor::from_vector<int64_t>({1, 4, 1, 0, 5, 1}, Shape{2, 3});
  check_gradients([&](const auto& in) { return ops::index_select(in[0], idx); }, {table});
  Tensor x = param(Shape{2, 4, 3}, 11);
  Tensor gidx = Tensor::from_vector<int64_t>({3, 0, 3, 1, 1, 2}, Shape{2, 1, 3});
  check_gradients([&](const auto& in) { return ops::gather(in[0], 1, gidx); }, {x});
  Tensor rows = Tensor::from_vector<int64_t>({2, 3}, Shape{2});
  check_gradients([&](const auto& in) { return ops::select_rows(in[0], rows); }, {x});
}

TEST_CASE("select_rows picks the EOT position given by argmax of the ids", "[index]") {
  Tensor ids = Tensor::from_vector<int64_t>({49406, 320, 49407, 0, 49406, 49407, 0, 0}, Shape{2, 4});
  Tensor eot = ops::argmax(ids, -1);
  CHECK(eot.to_vector<int64_t>() == std::vector<int64_t>{2, 1});
  Generator g(1);
  Tensor h = Tensor::randn(Shape{2, 4, 3}, g, DType::f64);
  auto picked = ops::select_rows(h, eot).to_vector<double>();
  auto hv = h.to_vector<double>();
  CHECK(picked[0] == hv[2 * 3 + 0]);
  CHECK(picked[3] == hv[(4 + 1) * 3 + 0]);
}

TEST_CASE("cross_entropy gradients and value", "[grad][loss]") {
  Tensor logits = param(Shape{4, 5}, 12, -3, 3);
  Tensor target = Tensor::from_vector<int64_t>({0, 3, 4, 1}, Shape{4});
  check_gradients([&](const auto& in) { return ops::cross_entropy(in[0], target); }, {logits});
  auto l = logits.to_vector<double>();
  double expect = 0;
  const int t[] = {0, 3, 4, 1};
  for (int i = 0; i < 4; ++i) {
    double s = 0;
    for (int j = 0; j < 5; ++j) s += std::exp(l[size_t(i * 5 + j)]);
    expect += -(l[size_t(i * 5 + t[i])] - std::log(s));
  }
  CHECK(ops::cross_entropy(logits.detach(), target).item<double>() == Approx(expect / 4).epsilon(1e-13));
}

TEST_CASE("index errors name the op and the offending index", "[index][errors]") {
  Tensor table = Tensor::zeros(Shape{3, 2});
  Tensor bad = Tensor::from_vector<int64_t>({0, 7}, Shape{2});
  REQUIRE_THROWS_WITH(ops::index_select(table, bad), Catch::Contains("index_select") && Catch::Contains("7"));
  REQUIRE_THROWS_WITH(ops::narrow(table, 0, 2, 3), Catch::Contains("narrow") && Catch::Contains("[3, 2]"));
}
