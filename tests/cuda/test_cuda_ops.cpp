// Every differentiable op on CUDA tensors against the same op on the CPU: forward output and the
// gradient of every input, on random inputs of awkward sizes, in f32 (1e-5 relative) and f64.
#include "cuda_op_check.hpp"

#ifdef XCLIP_WITH_CUDA
#include "xclip/ops.hpp"

using namespace xclip;
using namespace xclip::test;
namespace o = xclip::ops;

namespace {

uint64_t g_seed = 1000;

Tensor rnd(const Shape& s, DType t, double lo = -2.0, double hi = 2.0) {
  Generator gen(++g_seed);
  return Tensor::uniform(s, gen, lo, hi, t);
}

// Values with |v| in [0.5, 2] and a random sign: safe denominators.
Tensor away_from_zero(const Shape& s, DType t) {
  Generator gen(++g_seed);
  Tensor mag = Tensor::uniform(s, gen, 0.5, 2.0, DType::f64);
  std::vector<double> v = mag.to_vector<double>();
  for (double& x : v) x = gen.next_double() < 0.5 ? -x : x;
  return Tensor::from_vector(v, s).to(t);
}

Tensor indices(const Shape& s, int64_t bound, DType t = DType::i64) {
  Generator gen(++g_seed);
  std::vector<int64_t> v(size_t(s.numel()));
  for (int64_t& x : v) x = int64_t(gen.next_u64() % uint64_t(bound));
  return Tensor::from_vector(v, s).to(t);
}

const DType kTypes[] = {DType::f32, DType::f64};

}  // namespace

TEST_CASE("ops on CUDA: matmul with every transpose and batch layout", "[cuda][ops]") {
  XCLIP_REQUIRE_GPU();
  const int64_t M = 13, K = 37, N = 21;
  for (DType t : kTypes)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const Shape a2 = ta ? Shape{K, M} : Shape{M, K}, b2 = tb ? Shape{N, K} : Shape{K, N};
        const Shape a3 = ta ? Shape{5, K, M} : Shape{5, M, K}, b3 = tb ? Shape{5, N, K} : Shape{5, K, N};
        const Shape a4 = ta ? Shape{3, 2, K, M} : Shape{3, 2, M, K};
        auto mm = [ta, tb](const std::vector<Tensor>& in) { return o::matmul(in[0], in[1], ta, tb); };
        const std::string tag = std::string(ta ? "T" : "N") + (tb ? "T" : "N") + " " + dtype_name(t);
        check_op("matmul 2-d " + tag, {rnd(a2, t), rnd(b2, t)}, mm);
        check_op("matmul 3-d " + tag, {rnd(a3, t), rnd(b3, t)}, mm);
        check_op("matmul 3-d x shared 2-d " + tag, {rnd(a3, t), rnd(b2, t)}, mm);
        check_op("matmul 4-d x shared 2-d " + tag, {rnd(a4, t), rnd(b2, t)}, mm);
      }
}

TEST_CASE("ops on CUDA: linear with and without bias", "[cuda][ops]") {
  XCLIP_REQUIRE_GPU();
  for (DType t : kTypes) {
    check_op("linear + bias", {rnd(Shape{3, 7, 33}, t), rnd(Shape{17, 33}, t), rnd(Shape{17}, t)},
             [](const std::vector<Tensor>& in) { return o::linear(in[0], in[1], in[2]); });
    check_op("linear", {rnd(Shape{11, 33}, t), rnd(Shape{17, 33}, t)},
             [](const std::vector<Tensor>& in) { return o::linear(in[0], in[1]); });
  }
}

TEST_CASE("ops on CUDA: broadcasting add, sub, mul, div and the scalar ops", "[cuda][ops]") {
  XCLIP_REQUIRE_GPU();
  const std::pair<Shape, Shape> shapes[] = {{Shape{7, 1, 13}, Shape{5, 1}},
                                            {Shape{3, 4, 5}, Shape{5}},
                                            {Shape{}, Shape{2, 3}},
                                            {Shape{6, 9}, Shape{6, 9}},
                                            {Shape{2, 1, 3, 1, 5}, Shape{4, 1, 7, 1}}};
  for (DType t : kTypes)
    for (const auto& [sa, sb] : shapes) {
      const std::string tag = sa.str() + " " + sb.str() + " " + dtype_name(t);
      check_op("add " + tag, {rnd(sa, t), rnd(sb, t)}, [](const std::vector<Tensor>& in) { return in[0] + in[1]; });
      check_op("sub " + tag, {rnd(sa, t), rnd(sb, t)}, [](const std::vector<Tensor>& in) { return in[0] - in[1]; });
      check_op("mul " + tag, {rnd(sa, t), rnd(sb, t)}, [](const std::vector<Tensor>& in) { return in[0] * in[1]; });
      check_op("div " + tag, {rnd(sa, t), away_from_zero(sb, t)},
               [](const std::vector<Tensor>& in) { return in[0] / in[1]; });
    }
  for (DType t : kTypes) {
    const Tensor x = rnd(Shape{5, 129}, t);
    check_op("scale", {x}, [](const std::vector<Tensor>& in) { return o::scale(in[0], -0.37); });
    check_op("add_scalar", {x}, [](const std::vector<Tensor>& in) { return o::mul(o::add_scalar(in[0], 2.5), in[0]); });
    check_op("neg", {x}, [](const std::vector<Tensor>& in) { return o::neg(in[0]); });
  }
}

TEST_CASE("ops on CUDA: unary functions", "[cuda][ops]") {
  XCLIP_REQUIRE_GPU();
  using Unary = Tensor (*)(const Tensor&);
  const std::pair<const char*, Unary> fns[] = {{"exp", o::exp},         {"tanh", o::tanh},
                                               {"sigmoid", o::sigmoid}, {"quick_gelu", o::quick_gelu},
                                               {"gelu", o::gelu},       {"relu", o::relu},
                                               {"relu6", o::relu6}};
  for (DType t : kTypes) {
    for (const auto& [name, fn] : fns)
      check_op(name, {rnd(Shape{7, 333}, t, -4, 4)}, [fn = fn](const std::vector<Tensor>& in) { return fn(in[0]); });
    check_op("bias_quick_gelu", {rnd(Shape{7, 3, 333}, t, -4, 4), rnd(Shape{333}, t)},
             [](const std::vector<Tensor>& in) { return o::bias_quick_gelu(in[0], in[1]); });
    check_op("log", {rnd(Shape{1001}, t, 0.3, 5)}, [](const std::vector<Tensor>& in) { return o::log(in[0]); });
    check_op("sqrt", {rnd(Shape{1001}, t, 0.3, 5)}, [](const std::vector<Tensor>& in) { return o::sqrt(in[0]); });
  }
}

TEST_CASE("ops on CUDA: layer norm and L2 normalisation", "[cuda][ops]") {
  XCLIP_REQUIRE_GPU();
  for (DType t : kTypes) {
    for (double eps : {1e-5, 1e-12})
      check_op("layer_norm eps " + std::to_string(eps),
               {rnd(Shape{7, 13, 129}, t, -3, 5), rnd(Shape{129}, t), rnd(Shape{129}, t)},
               [eps](const std::vector<Tensor>& in) { return o::layer_norm(in[0], in[1], in[2], eps); });
    check_op("layer_norm without affine", {rnd(Shape{31, 65}, t)},
             [](const std::vector<Tensor>& in) { return o::layer_norm(in[0], Tensor(), Tensor(), 1e-5); });
    check_op("l2_normalize last", {rnd(Shape{9, 7, 33}, t)},
             [](const std::vector<Tensor>& in) { return o::l2_normalize(in[0], -1); });
    check_op("l2_normalize middle", {rnd(Shape{9, 7, 33}, t)},
             [](const std::vector<Tensor>& in) { return o::l2_normalize(in[0], 1, 1e-6); });
  }
}

TEST_CASE("ops on CUDA: softmax and log-softmax with temperature and masks", "[cuda][ops]") {
  XCLIP_REQUIRE_GPU();
  for (DType t : kTypes) {
    for (double tau : {1.0, 0.01})
      for (int axis : {-1, 1, 0}) {
        const std::string tag = "axis " + std::to_string(axis) + " tau " + std::to_string(tau);
        check_op("softmax " + tag, {rnd(Shape{6, 37, 5}, t)},
                 [axis, tau](const std::vector<Tensor>& in) { return o::softmax(in[0], axis, tau); });
        check_op("log_softmax " + tag, {rnd(Shape{6, 37, 5}, t)},
                 [axis, tau](const std::vector<Tensor>& in) { return o::log_softmax(in[0], axis, tau); });
      }
    check_op("softmax causal mask", {rnd(Shape{3, 11, 11}, t)}, [t](const std::vector<Tensor>& in) {
      return o::softmax(in[0], -1, 1.0, o::causal_mask(11, t, in[0].device()));
    });
    // A padding mask [B, 1, L] (0 or -1e6) passed as an input, detached: masks are data.
    std::vector<double> pad_values(33, 0.0);
    for (size_t i : {4u, 5u, 6u, 7u, 8u, 9u, 10u, 24u, 25u, 26u, 27u, 28u, 29u, 30u, 31u, 32u}) pad_values[i] = -1e6;
    const Tensor pad = Tensor::from_vector(pad_values, Shape{3, 1, 11}).to(t);
    check_op("softmax padding mask tau 0.01", {rnd(Shape{3, 11, 11}, t), pad},
             [](const std::vector<Tensor>& in) { return o::softmax(in[0], -1, 0.01, in[1].detach()); });
  }
}

TEST_CASE("ops on CUDA: reductions and the masked mean", "[cuda][ops]") {
  XCLIP_REQUIRE_GPU();
  for (DType t : kTypes) {
    for (int axis : {0, 1, 2, -1})
      for (bool keep : {false, true}) {
        const std::string tag = "axis " + std::to_string(axis) + (keep ? " keepdim" : "");
        check_op("sum " + tag, {rnd(Shape{7, 13, 33}, t)},
                 [axis, keep](const std::vector<Tensor>& in) { return o::sum(in[0], axis, keep); });
        check_op("mean " + tag, {rnd(Shape{7, 13, 33}, t)},
                 [axis, keep](const std::vector<Tensor>& in) { return o::mean(in[0], axis, keep); });
        check_op("max " + tag, {rnd(Shape{7, 13, 33}, t)},
                 [axis, keep](const std::vector<Tensor>& in) { return o::max(in[0], axis, keep); });
      }
    check_op("sum_all", {rnd(Shape{5, 1001}, t)}, [](const std::vector<Tensor>& in) { return o::sum_all(in[0]); });
    check_op("mean_all", {rnd(Shape{5, 1001}, t)}, [](const std::vector<Tensor>& in) { return o::mean_all(in[0]); });
    // Row 2 is all padding: its denominator is replaced by 1 (on the host for a GPU tensor).
    Tensor mask = Tensor::from_vector<int64_t>({1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0}, Shape{3, 5});
    check_op("masked_mean", {rnd(Shape{3, 5, 33}, t), mask},
             [](const std::vector<Tensor>& in) { return o::masked_mean(in[0], in[1], 1); });
  }
}

TEST_CASE("ops on CUDA: shape ops copy the right elements", "[cuda][ops]") {
  XCLIP_REQUIRE_GPU();
  for (DType t : kTypes) {
    const Tensor x = rnd(Shape{3, 7, 5, 2}, t);
    check_op("reshape", {x}, [](const std::vector<Tensor>& in) { return o::reshape(in[0], Shape{21, -1}) * 2.0; });
    check_op("permute", {x}, [](const std::vector<Tensor>& in) { return o::permute(in[0], {2, 0, 3, 1}); });
    check_op("transpose", {x}, [](const std::vector<Tensor>& in) { return o::transpose(in[0], 1, 3); });
    check_op("concat", {rnd(Shape{3, 2, 5}, t), rnd(Shape{3, 7, 5}, t), rnd(Shape{3, 1, 5}, t)},
             [](const std::vector<Tensor>& in) { return o::concat({in[0], in[1], in[2]}, 1); });
    check_op("narrow", {x}, [](const std::vector<Tensor>& in) { return o::narrow(in[0], 1, 2, 4); });
    check_op("unsqueeze + squeeze", {x}, [](const std::vector<Tensor>& in) {
      return o::squeeze(o::unsqueeze(in[0], 2), 2) * in[0];
    });
  }
  check_op("cast f32 -> f64", {rnd(Shape{7, 9}, DType::f32)},
           [](const std::vector<Tensor>& in) { return o::cast(in[0], DType::f64); });
}

TEST_CASE("ops on CUDA: index_select, gather, select_rows, argmax, cross-entropy", "[cuda][ops]") {
  XCLIP_REQUIRE_GPU();
  for (DType t : kTypes) {
    for (DType it : {DType::i64, DType::i32})
      check_op(std::string("index_select ") + dtype_name(it), {rnd(Shape{50, 17}, t), indices(Shape{4, 9}, 50, it)},
               [](const std::vector<Tensor>& in) { return o::index_select(in[0], in[1]); });
    check_op("gather", {rnd(Shape{6, 11, 5}, t), indices(Shape{6, 4, 5}, 11)},
             [](const std::vector<Tensor>& in) { return o::gather(in[0], 1, in[1]); });
    check_op("select_rows", {rnd(Shape{5, 9, 17}, t), indices(Shape{5}, 9)},
             [](const std::vector<Tensor>& in) { return o::select_rows(in[0], in[1]); });
    check_op("argmax of floats", {rnd(Shape{7, 33}, t)},
             [](const std::vector<Tensor>& in) { return o::argmax(in[0], -1); }, -1, false);
    check_op("cross_entropy", {rnd(Shape{9, 13}, t, -5, 5), indices(Shape{9}, 13)},
             [](const std::vector<Tensor>& in) { return o::cross_entropy(in[0], in[1]); });
  }
  check_op("argmax of token ids", {indices(Shape{5, 77}, 49408)},
           [](const std::vector<Tensor>& in) { return o::argmax(in[0], -1); }, -1, false);
  // The EOT gather of the text encoder: rows picked by the argmax of the ids, both on the GPU.
  check_op("select_rows by argmax", {rnd(Shape{5, 12, 8}, DType::f32), indices(Shape{5, 12}, 49408)},
           [](const std::vector<Tensor>& in) { return o::select_rows(in[0], o::argmax(in[1], -1)); });
}

TEST_CASE("ops on CUDA: multi-head attention and the patch embedding", "[cuda][ops]") {
  XCLIP_REQUIRE_GPU();
  for (DType t : kTypes) {
    const int64_t B = 3, L = 11, D = 32;
    auto weights = [&]() {
      return std::vector<Tensor>{rnd(Shape{B, L, D}, t),           rnd(Shape{3 * D, D}, t, -0.3, 0.3),
                                 rnd(Shape{3 * D}, t, -0.3, 0.3), rnd(Shape{D, D}, t, -0.3, 0.3),
                                 rnd(Shape{D}, t, -0.3, 0.3)};
    };
    check_op("attention", weights(), [](const std::vector<Tensor>& in) {
      return o::multi_head_attention(in[0], in[1], in[2], in[3], in[4], 4);
    });
    check_op("attention causal", weights(), [t](const std::vector<Tensor>& in) {
      return o::multi_head_attention(in[0], in[1], in[2], in[3], in[4], 4, o::causal_mask(11, t, in[0].device()));
    });
    std::vector<double> pad(size_t(B * L), 0.0);
    for (int64_t j = 7; j < L; ++j) pad[size_t(L + j)] = -1e6;  // sequence 1 has 7 real tokens
    const Tensor padding = Tensor::from_vector(pad, Shape{B, 1, L}).to(t);
    check_op("attention key padding", weights(), [padding](const std::vector<Tensor>& in) {
      return o::multi_head_attention(in[0], in[1], in[2], in[3], in[4], 4, padding.to(in[0].device()));
    });
    // 17×17 images with 4-pixel patches: the last row/column of pixels is outside the grid.
    check_op("patch_embed", {rnd(Shape{2, 3, 17, 17}, t), rnd(Shape{8, 3, 4, 4}, t)},
             [](const std::vector<Tensor>& in) { return o::patch_embed(in[0], in[1]); });
  }
}

TEST_CASE("ops on CUDA: tensors on different devices are an error naming the op and both", "[cuda][ops]") {
  XCLIP_REQUIRE_GPU();
  const Tensor a = Tensor::ones(Shape{2, 3}), b = Tensor::ones(Shape{2, 3}).to(Device::cuda);
  CHECK_THROWS_WITH(o::add(a, b), Catch::Contains("add") && Catch::Contains("cpu") && Catch::Contains("cuda"));
  CHECK_THROWS_WITH(o::matmul(a, b, false, true), Catch::Contains("matmul") && Catch::Contains("cuda"));
  CHECK_THROWS_WITH(o::layer_norm(b, Tensor::ones(Shape{3}), Tensor(), 1e-5), Catch::Contains("layer_norm"));
  CHECK_THROWS_WITH(o::index_select(b, Tensor::from_vector<int64_t>({0}, Shape{1})),
                    Catch::Contains("index_select"));
  // An out-of-range index on the GPU is reported as on the CPU.
  CHECK_THROWS(o::index_select(b, Tensor::from_vector<int64_t>({5}, Shape{1}).to(Device::cuda)));
}

#endif  // XCLIP_WITH_CUDA
