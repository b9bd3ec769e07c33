#include "xclip/nn/layers.hpp"

#include "xclip/core/profile.hpp"
#include "xclip/ops.hpp"

namespace xclip::nn {

Linear::Linear(int64_t in, int64_t out, bool has_bias, DType dtype)
    : weight(register_parameter("weight", Tensor::zeros(Shape{out, in}, dtype))) {
  if (has_bias) bias = &register_parameter("bias", Tensor::zeros(Shape{out}, dtype));
}

Tensor Linear::forward(const Tensor& x) const { return ops::linear(x, weight, bias ? *bias : Tensor()); }

LayerNorm::LayerNorm(int64_t dim, double eps_, DType dtype)
    : weight(register_parameter("weight", Tensor::ones(Shape{dim}, dtype))),
      bias(register_parameter("bias", Tensor::zeros(Shape{dim}, dtype))),
      eps(eps_) {}

Tensor LayerNorm::forward(const Tensor& x) const { return ops::layer_norm(x, weight, bias, eps); }

MultiheadAttention::MultiheadAttention(int64_t width, int heads_, DType dtype)
    : in_proj_weight(register_parameter("in_proj_weight", Tensor::zeros(Shape{3 * width, width}, dtype))),
      in_proj_bias(register_parameter("in_proj_bias", Tensor::zeros(Shape{3 * width}, dtype))),
      out_proj(register_module("out_proj", std::make_shared<Linear>(width, width, true, dtype))),
      heads(heads_) {}

Tensor MultiheadAttention::forward(const Tensor& x, const Tensor& mask) const {
  return ops::multi_head_attention(x, in_proj_weight, in_proj_bias, out_proj.weight, *out_proj.bias, heads, mask);
}

Mlp::Mlp(int64_t width, DType dtype)
    : c_fc(register_module("c_fc", std::make_shared<Linear>(width, 4 * width, true, dtype))),
      c_proj(register_module("c_proj", std::make_shared<Linear>(4 * width, width, true, dtype))) {}

Tensor Mlp::forward(const Tensor& x) const {
  // c_fc's bias add and QuickGELU as one fused op (the same values as c_fc.forward then quick_gelu).
  Tensor h = c_fc.bias ? ops::bias_quick_gelu(ops::linear(x, c_fc.weight), *c_fc.bias)
                       : ops::quick_gelu(c_fc.forward(x));
  return c_proj.forward(h);
}

ResidualAttentionBlock::ResidualAttentionBlock(int64_t width, int heads, double ln_eps, DType dtype)
    : attn(register_module("attn", std::make_shared<MultiheadAttention>(width, heads, dtype))),
      ln_1(register_module("ln_1", std::make_shared<LayerNorm>(width, ln_eps, dtype))),
      mlp(register_module("mlp", std::make_shared<Mlp>(width, dtype))),
      ln_2(register_module("ln_2", std::make_shared<LayerNorm>(width, ln_eps, dtype))) {}

const BlockOps& BlockOps::modules() {
  static const BlockOps kModules{
      [](const LayerNorm& ln, const Tensor& x) { return ln.forward(x); },
      [](const MultiheadAttention& attn, const Tensor& x, const Tensor& mask) { return attn.forward(x, mask); },
      [](const Mlp& mlp, const Tensor& x) { return mlp.forward(x); },
      [](const Tensor& x, const Tensor& branch) { return ops::add(x, branch); }};
  return kModules;
}

Tensor ResidualAttentionBlock::forward(const Tensor& x, const Tensor& mask) const {
  return forward(x, mask, BlockOps::modules());
}

Tensor ResidualAttentionBlock::forward(const Tensor& x, const Tensor& mask, const BlockOps& steps) const {
  Tensor h = steps.residual_add(x, steps.attention(attn, steps.layer_norm(ln_1, x), mask));
  return steps.residual_add(h, steps.mlp(mlp, steps.layer_norm(ln_2, h)));
}

namespace {
class BlockList : public Module {
 public:
  ResidualAttentionBlock& add(int index, int64_t width, int heads, double ln_eps, DType dtype) {
    return register_module(std::to_string(index),
                           std::make_shared<ResidualAttentionBlock>(width, heads, ln_eps, dtype));
  }
};
}  // namespace

Transformer::Transformer(int64_t width_, int layers, int heads_, double ln_eps, DType dtype)
    : width(width_), heads(heads_) {
  auto list = std::make_shared<BlockList>();
  for (int i = 0; i < layers; ++i) resblocks.push_back(&list->add(i, width_, heads_, ln_eps, dtype));
  register_module("resblocks", list);
}

Tensor Transformer::forward(const Tensor& x, const Tensor& mask) const {
  return forward(x, mask, BlockOps::modules());
}

Tensor Transformer::forward(const Tensor& x, const Tensor& mask, const BlockOps& steps) const {
  Tensor h = x;
  for (size_t i = 0; i < resblocks.size(); ++i) {
    profile::Scope region("resblocks", int(i));  // inside the caller's region: visual, text, temporal
    h = resblocks[i]->forward(h, mask, steps);
  }
  return h;
}

}  // namespace xclip::nn
