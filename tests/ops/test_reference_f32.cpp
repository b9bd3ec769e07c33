// f32 forward of layer_norm, softmax (τ 0.01), attention and QuickGELU against values made by
// PyTorch: tests/fixtures/reference/ops_f32.safetensors, written by
//   /usr/bin/python3 tools/reference/ops_reference.py tests/fixtures/reference/ops_f32.safetensors
// Error measure: max |ours − torch| / max |torch| over the tensor (f32 summation order differs).
#include <catch2/catch.hpp>
#include <cmath>

#include "test_util.hpp"
#include "xclip/io/safetensors.hpp"
#include "xclip/ops.hpp"

using namespace xclip;

namespace {
const io::NamedTensors& fixture() {
  static io::NamedTensors t =
      io::load_safetensors((test::source_root() / "tests/fixtures/reference/ops_f32.safetensors").string());
  return t;
}

Tensor ref(const std::string& name) { return fixture().at(name); }

double relative_error(const Tensor& ours, const Tensor& theirs) {
  REQUIRE(ours.shape() == theirs.shape());
  auto a = ours.to_vector<double>(), b = theirs.to_vector<double>();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return diff / scale;
}

void check_close(const char* what, const Tensor& ours, const Tensor& theirs, double tol = 1e-5) {
  const double err = relative_error(ours, theirs);
  INFO(what << ": relative error " << err);
  std::cout << what << ": max relative error vs PyTorch " << err << "\n";
  CHECK(err < tol);
}
}  // namespace

TEST_CASE("f32 layer_norm matches PyTorch (eps 1e-5 and 1e-12)", "[reference][layer_norm]") {
  Tensor x = ref("layer_norm.x"), w = ref("layer_norm.weight"), b = ref("layer_norm.bias");
  check_close("layer_norm eps 1e-5", ops::layer_norm(x, w, b, 1e-5), ref("layer_norm.eps1e-5"));
  check_close("layer_norm eps 1e-12", ops::layer_norm(x, w, b, 1e-12), ref("layer_norm.eps1e-12"));
}

TEST_CASE("f32 softmax with temperature 0.01 matches PyTorch", "[reference][softmax]") {
  Tensor s = ref("softmax.x");
  check_close("softmax tau 0.01 axis 1", ops::softmax(s, 1, 0.01), ref("softmax.tau0.01.axis1"));
  check_close("softmax tau 0.01 axis 2", ops::softmax(s, 2, 0.01), ref("softmax.tau0.01.axis2"));
  check_close("log_softmax tau 0.01 axis 2", ops::log_softmax(s, 2, 0.01), ref("log_softmax.tau0.01.axis2"));
}

TEST_CASE("f32 QuickGELU matches PyTorch", "[reference][unary]") {
  check_close("quick_gelu", ops::quick_gelu(ref("quick_gelu.x")), ref("quick_gelu.y"));
}

TEST_CASE("f32 multi-head attention matches nn.MultiheadAttention", "[reference][attention]") {
  Tensor x = ref("attention.x");
  auto mha = [&](const Tensor& mask) {
    return ops::multi_head_attention(x, ref("attention.in_proj_weight"), ref("attention.in_proj_bias"),
                                     ref("attention.out_proj.weight"), ref("attention.out_proj.bias"), 4, mask);
  };
  check_close("attention, no mask", mha(Tensor()), ref("attention.out.none"));
  check_close("attention, causal mask", mha(ops::causal_mask(10)), ref("attention.out.causal"));
  // The temporal encoder's padding mask: (1 − video_mask)·(−1e6) as [B, 1, L].
  Tensor vm = ref("attention.video_mask");
  Tensor pad = ops::scale(ops::add_scalar(ops::neg(vm), 1.0), -1e6);
  check_close("attention, padding mask", mha(ops::unsqueeze(pad, 1)), ref("attention.out.padding"));
}
