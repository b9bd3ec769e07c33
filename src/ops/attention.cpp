// Multi-head self-attention as nn.MultiheadAttention computes it for CLIP (combined q,k,v
// in_proj, q scaled after the projection, additive mask), composed from differentiable ops so its
// backward is the chain of theirs. Plus the causal mask.
#include <cmath>
#include <limits>

#include "op_util.hpp"
#include "xclip/ops.hpp"

namespace xclip::ops {

namespace {
// [B, L, D] -> [B, heads, L, D/heads]
Tensor split_heads(const Tensor& t, int64_t B, int64_t L, int heads, int64_t dh) {
  return permute(reshape(t, Shape{B, L, heads, dh}), {0, 2, 1, 3});
}

// Mask shapes accepted: [L, L] (shared), [B, L, L] (per sequence), [B, 1, L] (key padding).
// Returned broadcastable to the scores [B, heads, L, L].
Tensor mask_for_scores(const Tensor& mask, int64_t B, int64_t L) {
  if (!mask.defined()) return mask;
  if (mask.ndim() == 2) {
    XCLIP_CHECK(mask.dim(0) == L && mask.dim(1) == L, "multi_head_attention: mask ", mask.str(), " for length ", L);
    return mask;
  }
  XCLIP_CHECK(mask.ndim() == 3 && mask.dim(0) == B && (mask.dim(1) == L || mask.dim(1) == 1) && mask.dim(2) == L,
              "multi_head_attention: mask ", mask.str(), " must be [L, L], [B, L, L] or [B, 1, L] for B=", B,
              ", L=", L);
  return unsqueeze(mask, 1);
}
}  // namespace

Tensor multi_head_attention(const Tensor& x, const Tensor& in_proj_weight, const Tensor& in_proj_bias,
                            const Tensor& out_proj_weight, const Tensor& out_proj_bias, int heads,
                            const Tensor& mask) {
  XCLIP_CHECK(x.ndim() == 3, "multi_head_attention: input must be [B, L, D], got ", x.str());
  const int64_t B = x.dim(0), L = x.dim(1), D = x.dim(2);
  XCLIP_CHECK(heads > 0 && D % heads == 0, "multi_head_attention: width ", D, " not divisible by ", heads, " heads");
  XCLIP_CHECK(in_proj_weight.ndim() == 2 && in_proj_weight.dim(0) == 3 * D && in_proj_weight.dim(1) == D,
              "multi_head_attention: in_proj_weight ", in_proj_weight.str(), " for width ", D);
  const int64_t dh = D / heads;
  Tensor qkv = linear(x, in_proj_weight, in_proj_bias);  // [B, L, 3D]
  Tensor q = split_heads(scale(narrow(qkv, 2, 0, D), 1.0 / std::sqrt(double(dh))), B, L, heads, dh);
  Tensor k = split_heads(narrow(qkv, 2, D, D), B, L, heads, dh);
  Tensor v = split_heads(narrow(qkv, 2, 2 * D, D), B, L, heads, dh);
  Tensor scores = matmul(q, k, false, true);  // [B, H, L, L]
  Tensor attn = softmax(scores, -1, 1.0, mask_for_scores(mask, B, L));
  Tensor ctx = matmul(attn, v);  // [B, H, L, dh]
  Tensor merged = reshape(permute(ctx, {0, 2, 1, 3}), Shape{B, L, D});
  return linear(merged, out_proj_weight, out_proj_bias);
}

Tensor causal_mask(int64_t L, DType dtype, Device device) {
  Tensor m = Tensor::zeros(Shape{L, L}, DType::f64);
  double* p = m.data<double>();
  for (int64_t i = 0; i < L; ++i)
    for (int64_t j = i + 1; j < L; ++j) p[i * L + j] = -std::numeric_limits<double>::infinity();
  return m.to(dtype).to(device);
}

}  // namespace xclip::ops
