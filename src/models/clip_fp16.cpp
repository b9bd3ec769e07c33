// Emulation of the original's fp16 CLIP (spec §3.1) with f32 storage.
//
// The original runs convert_weights(clip) and then computes both towers on fp16 tensors with
// cuBLAS/cuDNN. What is emulated here, and how:
//  - Weights: conv1, every attention in_proj/out_proj, mlp.c_fc/c_proj (weights and biases),
//    text_projection and visual.proj are rounded to fp16 values when used (round_to_f16), so
//    the result is the same whether or not the stored f32 parameters were rounded first.
//    Embeddings, LayerNorm parameters and logit_scale keep their f32 values; embeddings are cast
//    to fp16 (rounded) where the original calls .type(dtype) / .to(x.dtype) on them.
//  - Activations: every op the original runs in half produces an fp16 tensor, so its f32 result
//    is rounded to fp16 once, after the op (one rounding per kernel, as CUDA computes in f32
//    internally and stores fp16): GEMMs with their bias (F.linear = one addmm), the q scaling,
//    q·kᵀ, the additive mask, softmax (f32 inside, fp16 out), attention·v, each residual add,
//    and QuickGELU's three ops x·sigmoid(1.702·x): 1.702·x, sigmoid, product.
//  - LayerNorm: computed in f32 from the fp16 input with the f32 weights, cast back (rounded).
//  - Outputs: the towers' fp16 outputs are returned as f32 (.float()), i.e. unchanged values.
// Not emulated: the accumulation order inside fp16 GEMMs (our f32 GEMMs sum in another order, so
// a result near a rounding boundary may land one fp16 ulp away) and fp16 gradients: backward runs
// in f32, with round_to_f16's gradient passing straight through.
#include <cmath>

#include "xclip/models/clip.hpp"
#include "xclip/ops.hpp"

namespace xclip::models {

namespace {

template <class T>
void round_values(const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = T(f16_to_float(float_to_f16(float(x[i]))));
}

Tensor rounded_copy(const Tensor& x) {
  XCLIP_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, "round_to_f16: expected f32 or f64, got ",
              x.str());
  // On a GPU: the device conversion to f16 and back rounds the same way (f64 through f32 too).
  if (x.device() != Device::cpu) return x.to(DType::f16).to(x.dtype());
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  if (x.dtype() == DType::f32)
    round_values(x.data<float>(), y.data<float>(), x.numel());
  else if (x.dtype() == DType::f64)
    round_values(x.data<double>(), y.data<double>(), x.numel());  // via f32: may double-round in rare cases
  else
    throw Error(format("round_to_f16: expected f32 or f64, got ", x.str()));
  return y;
}

}  // namespace

Tensor round_to_f16(const Tensor& x) {
  return record("round_to_f16", rounded_copy(x), {x},
                [](const Tensor& g) { return std::vector<Tensor>{g}; });  // straight-through
}

bool is_official_fp16_parameter(const std::string& name) {
  if (name == "visual.conv1.weight" || name == "visual.proj" || name == "text_projection") return true;
  if (!name.starts_with("visual.transformer.resblocks.") && !name.starts_with("transformer.resblocks."))
    return false;
  for (const char* leaf : {".attn.in_proj_weight", ".attn.in_proj_bias", ".attn.out_proj.weight",
                           ".attn.out_proj.bias", ".mlp.c_fc.weight", ".mlp.c_fc.bias", ".mlp.c_proj.weight",
                           ".mlp.c_proj.bias"})
    if (name.ends_with(leaf)) return true;
  return false;  // ln_1, ln_2
}

namespace fp16 {

Tensor layer_norm(const nn::LayerNorm& ln, const Tensor& x) {
  // CLIP's LayerNorm: x.type(float32), torch LayerNorm with f32 weights, .type(orig dtype).
  return round_to_f16(ops::layer_norm(x, ln.weight, ln.bias, ln.eps));
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  return round_to_f16(ops::linear(x, round_to_f16(weight), bias.defined() ? round_to_f16(bias) : bias));
}

namespace {

// [B, L, D] -> [B, heads, L, D/heads]
Tensor split_heads(const Tensor& t, int64_t B, int64_t L, int heads, int64_t dh) {
  return ops::permute(ops::reshape(t, Shape{B, L, heads, dh}), {0, 2, 1, 3});
}

// nn.MultiheadAttention (F.multi_head_attention_forward) on fp16 tensors.
Tensor attention(const nn::MultiheadAttention& mha, const Tensor& x, const Tensor& mask) {
  const int64_t B = x.dim(0), L = x.dim(1), D = x.dim(2);
  const int heads = mha.heads;
  const int64_t dh = D / heads;
  Tensor qkv = linear(x, mha.in_proj_weight, mha.in_proj_bias);  // packed in_proj: one GEMM
  Tensor q = round_to_f16(ops::scale(ops::narrow(qkv, 2, 0, D), 1.0 / std::sqrt(double(dh))));
  Tensor k = ops::narrow(qkv, 2, D, D);
  Tensor v = ops::narrow(qkv, 2, 2 * D, D);
  q = split_heads(q, B, L, heads, dh);
  k = split_heads(k, B, L, heads, dh);
  v = split_heads(v, B, L, heads, dh);
  Tensor scores = round_to_f16(ops::matmul(q, k, false, true));  // [B, H, L, L]
  if (mask.defined()) scores = round_to_f16(ops::add(scores, round_to_f16(mask)));
  Tensor weights = round_to_f16(ops::softmax(scores, -1));
  Tensor ctx = round_to_f16(ops::matmul(weights, v));  // [B, H, L, dh]
  Tensor merged = ops::reshape(ops::permute(ctx, {0, 2, 1, 3}), Shape{B, L, D});
  return linear(merged, mha.out_proj.weight, *mha.out_proj.bias);
}

// c_proj(QuickGELU(c_fc(x))), QuickGELU being three fp16 ops: x * sigmoid(1.702 * x).
Tensor mlp(const nn::Mlp& m, const Tensor& x) {
  Tensor h = linear(x, m.c_fc.weight, *m.c_fc.bias);
  Tensor gate = round_to_f16(ops::sigmoid(round_to_f16(ops::scale(h, 1.702))));
  return linear(round_to_f16(ops::mul(h, gate)), m.c_proj.weight, *m.c_proj.bias);
}

// The residual add is one more fp16 op.
Tensor residual_add(const Tensor& x, const Tensor& branch) { return round_to_f16(ops::add(x, branch)); }

// The block's steps as the original runs them in half precision (nn::ResidualAttentionBlock::forward
// is the block, written once).
const nn::BlockOps& block_steps() {
  static const nn::BlockOps kSteps{layer_norm, attention, mlp, residual_add};
  return kSteps;
}

}  // namespace

Tensor residual_block(const nn::ResidualAttentionBlock& block, const Tensor& x, const Tensor& mask) {
  return block.forward(x, mask, block_steps());
}

Tensor transformer(const nn::Transformer& t, const Tensor& x, const Tensor& mask) {
  return t.forward(x, mask, block_steps());
}

}  // namespace fp16

}  // namespace xclip::models
