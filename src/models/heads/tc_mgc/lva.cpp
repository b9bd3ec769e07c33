// TC-MGC's language-video attention block (LVA, spec §A2; module_xpool.py's Transformer with the
// unused q/k/v/out projections left out): forward only, the backward is the ops' own.
#include <cmath>

#include "xclip/core/profile.hpp"
#include "xclip/models/heads/tc_mgc_head.hpp"
#include "xclip/models/temporal_encoder.hpp"
#include "xclip/ops.hpp"

namespace xclip::models {

namespace {

constexpr double kLayerNormEps = 1e-5;  // torch.nn.LayerNorm's default

// [rows, D] -> [H, rows, D/H]: head c takes the c-th contiguous D/H slice of each row.
Tensor split_heads(const Tensor& x, int heads) {
  const int64_t rows = x.dim(0), D = x.dim(1);
  return ops::permute(ops::reshape(x, Shape{rows, heads, D / heads}), {1, 0, 2});
}

}  // namespace

Tensor language_video_attention(const TcMgcParams& p, const Tensor& queries, const Tensor& frames,
                                const Tensor& video_mask, int heads, bool mask_frames, const DropoutDraw& dropout,
                                uint64_t call) {
  profile::Scope region("lva");
  XCLIP_CHECK(queries.ndim() == 2 && frames.ndim() == 3 && queries.dim(1) == frames.dim(2),
              "TC-MGC LVA: queries ", queries.str(), " and frames ", frames.str(), " must be [n, D] and [V, N, D]");
  const int64_t n_q = queries.dim(0), V = frames.dim(0), N = frames.dim(1), D = frames.dim(2), Dh = D / heads;
  // LN1 on both sides; the values are the normalised frames themselves (keys = values).
  const Tensor q = split_heads(ops::layer_norm(queries, p.ln1_weight, p.ln1_bias, kLayerNormEps), heads);
  const Tensor kv = split_heads(
      ops::reshape(ops::layer_norm(frames, p.ln1_weight, p.ln1_bias, kLayerNormEps), Shape{V * N, D}), heads);
  Tensor logits = ops::reshape(ops::matmul(q, kv, false, true), Shape{heads, n_q, V, N});  // [H, n_q, V, N]
  const double temperature = std::sqrt(double(Dh));                                       // a / sqrt(D_h)
  // −1e6 on padded frames (exp underflows to 0), broadcast over the heads and queries.
  const Tensor mask = mask_frames ? frame_padding_mask(video_mask, logits.dtype()).view(Shape{1, 1, V, N}) : Tensor();
  const Tensor attn = ops::softmax(logits, 3, temperature, mask);
  // o[h, v, q] = Σ_n π[h, q, v, n] · kv[h, v, n]: batched over (h, v).
  const Tensor attn_hv = ops::reshape(ops::permute(attn, {0, 2, 1, 3}), Shape{heads * V, n_q, N});
  const Tensor values = ops::reshape(kv, Shape{heads * V, N, Dh});
  const Tensor o = ops::reshape(ops::matmul(attn_hv, values), Shape{heads, V, n_q, Dh});
  const Tensor pooled = ops::reshape(ops::permute(o, {2, 1, 0, 3}), Shape{n_q, V, D});  // [n_q, V, D]
  const Tensor u = ops::layer_norm(pooled, p.ln2_weight, p.ln2_bias, kLayerNormEps);
  Tensor projected = ops::linear(u, p.proj_weight, p.proj_bias);
  if (dropout.p > 0) projected = ops::dropout(projected, dropout.p, dropout.seed, dropout.stream(call));
  return ops::layer_norm(ops::add(u, projected), p.ln3_weight, p.ln3_bias, kLayerNormEps);
}

}  // namespace xclip::models
