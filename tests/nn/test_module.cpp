// Module names are the PyTorch state_dict names; load_state_dict reports every problem.
#include <catch2/catch.hpp>

#include "xclip/nn/layers.hpp"
#include "xclip/ops.hpp"

using namespace xclip;

TEST_CASE("a residual attention stack has CLIP's state_dict names in PyTorch order", "[nn]") {
  nn::Transformer t(8, 2, 2, 1e-5);
  auto names = t.named_parameters("transformer.");
  std::vector<std::string> first;
  for (size_t i = 0; i < 12; ++i) first.push_back(names[i].first);
  CHECK(first == std::vector<std::string>{
                     "transformer.resblocks.0.attn.in_proj_weight", "transformer.resblocks.0.attn.in_proj_bias",
                     "transformer.resblocks.0.attn.out_proj.weight", "transformer.resblocks.0.attn.out_proj.bias",
                     "transformer.resblocks.0.ln_1.weight",          "transformer.resblocks.0.ln_1.bias",
                     "transformer.resblocks.0.mlp.c_fc.weight",      "transformer.resblocks.0.mlp.c_fc.bias",
                     "transformer.resblocks.0.mlp.c_proj.weight",    "transformer.resblocks.0.mlp.c_proj.bias",
                     "transformer.resblocks.0.ln_2.weight",          "transformer.resblocks.0.ln_2.bias"});
  CHECK(names.size() == 24);
  CHECK(t.parameter("resblocks.1.mlp.c_fc.weight").shape() == Shape{32, 8});
  // in_proj 3·64 + 24, out_proj 64 + 8, ln_1 2·8, c_fc 32·8 + 32, c_proj 8·32 + 8, ln_2 2·8 per block
  CHECK(t.num_parameters() == 2 * (3 * 64 + 24 + 64 + 8 + 2 * 8 + 32 * 8 + 32 + 8 * 32 + 8 + 2 * 8));
}

TEST_CASE("load_state_dict copies values, converting dtype", "[nn]") {
  nn::Linear a(3, 2), b(3, 2);
  Generator g(1);
  a.weight.copy_(Tensor::randn(Shape{2, 3}, g));
  auto sd = a.state_dict();
  // Round-trip through f16 as OpenAI checkpoints store weights.
  nn::NamedTensorList half;
  for (auto& [n, t] : sd) half.emplace_back(n, t.to(DType::f16));
  b.load_state_dict(half);
  auto wa = a.weight.to(DType::f16).to(DType::f32).to_vector<float>();
  CHECK(b.weight.to_vector<float>() == wa);
}

TEST_CASE("load_state_dict lists every missing, unexpected and mis-shaped tensor", "[nn][errors]") {
  nn::Linear a(3, 2);
  nn::NamedTensorList sd = {{"weight", Tensor::zeros(Shape{2, 4})}, {"extra", Tensor::zeros(Shape{1})}};
  try {
    a.load_state_dict(sd, true);
    FAIL("expected an error");
  } catch (const Error& e) {
    std::string m = e.what();
    CHECK_THAT(m, Catch::Contains("3 problem(s)"));
    CHECK_THAT(m, Catch::Contains("missing: bias (expected [2])"));
    CHECK_THAT(m, Catch::Contains("unexpected: extra"));
    CHECK_THAT(m, Catch::Contains("shape mismatch: weight expected [2, 3], found [2, 4]"));
  }
  // Nothing was copied by the failed load.
  CHECK(a.weight.to_vector<float>() == std::vector<float>(6, 0.0f));
  // Non-strict: missing/unexpected tolerated, the unexpected names returned.
  nn::NamedTensorList ok = {{"weight", Tensor::ones(Shape{2, 3})}, {"extra", Tensor::zeros(Shape{1})}};
  CHECK(a.load_state_dict(ok, false) == std::vector<std::string>{"extra"});
  CHECK(a.weight.to_vector<float>() == std::vector<float>(6, 1.0f));
}

TEST_CASE("gradients reach every parameter of a block", "[nn]") {
  nn::ResidualAttentionBlock blk(8, 2, 1e-5);
  Generator g(3);
  for (auto& [n, p] : blk.named_parameters()) p.copy_(Tensor::randn(p.shape(), g, DType::f32, 0, 0.2));
  Tensor x = Tensor::randn(Shape{2, 5, 8}, g);
  ops::sum_all(blk.forward(x, ops::causal_mask(5))).backward();
  for (auto& [n, p] : blk.named_parameters()) {
    INFO(n);
    CHECK(p.grad().defined());
  }
}
