// Differentiable operations. Each op runs its forward through the kernels of the tensor's device
// and records its backward on the tape (autograd.hpp). f32 and f64, on the CPU or a CUDA device:
// every tensor of one op must be on the same device (an error names the op and both tensors
// otherwise), and outputs and gradients are made on that device.
// Shapes follow PyTorch conventions; every shape/dtype/device mismatch throws xclip::Error
// naming the op and the shapes.
#pragma once
#include <optional>
#include <vector>

#include "xclip/autograd.hpp"
#include "xclip/core/tensor.hpp"

namespace xclip::ops {

// ---- linear algebra (ops/matmul.cpp) --------------------------------------------------------
// a [.., M, K] (or [.., K, M] with trans_a) times b [.., K, N] (or [.., N, K] with trans_b).
// Both 2-D, both 3-D with equal batch, or a 3-D/4-D `a` with a 2-D `b` (b shared across the batch).
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
// x [.., in] · weightᵀ + bias, weight [out, in] (PyTorch nn.Linear layout); bias optional.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- bf16 autocast (ops/autocast.cpp) --------------------------------------------------------
// While autocast is on (on this thread), matmul of two f32 tensors, and so linear, the patch
// embedding and attention's two products, rounds both operands to bf16 and multiplies them with
// f32 accumulation into an f32 result; its backward rounds the incoming gradient to bf16 and
// computes both operand gradients the same way, in f32. The operands are kept as bf16 for the
// backward (half the memory of f32). Everything else (softmax, layer norm, elementwise ops,
// losses) stays in f32, as do parameters and their gradients (f32 master weights). This is
// torch.autocast(dtype=torch.bfloat16) for the matmuls, with f32 rather than bf16 outputs (so
// residual streams and softmax inputs are not rounded). f64 tensors are never autocast.
// On the CPU the same rounding is emulated exactly (cpu::gemm_batched_bf16), so a CPU run is
// the reference of a GPU one.
bool autocast_bf16_enabled();
// Sets autocast on or off for a scope (nested guards restore the state they found).
class AutocastBf16Guard {
 public:
  explicit AutocastBf16Guard(bool enabled = true);
  ~AutocastBf16Guard();
  AutocastBf16Guard(const AutocastBf16Guard&) = delete;
  AutocastBf16Guard& operator=(const AutocastBf16Guard&) = delete;

 private:
  bool previous_;
};

// ---- elementwise with numpy broadcasting (ops/elementwise.cpp) -----------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, double s);          // x·s
Tensor add_scalar(const Tensor& x, double s);     // x + s
Tensor neg(const Tensor& x);

// ---- unary functions (ops/unary.cpp) --------------------------------------------------------
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor quick_gelu(const Tensor& x);   // x·sigmoid(1.702x), CLIP's activation
Tensor gelu(const Tensor& x);         // exact erf GELU
Tensor relu(const Tensor& x);         // max(x, 0); gradient 0 at x = 0, as PyTorch
Tensor relu6(const Tensor& x);        // min(max(x, 0), 6); gradient 0 at x = 0 and x = 6
// quick_gelu(x + bias) in one pass, bias [x.dim(-1)]: CLIP's c_fc bias and activation fused. The
// same values and gradients as add then quick_gelu, bit for bit, with two passes over the
// activation fewer.
Tensor bias_quick_gelu(const Tensor& x, const Tensor& bias);

// ---- normalisation (ops/layer_norm.cpp, ops/reduce.cpp) ------------------------------------
// Over the last dimension; weight/bias [D]. CLIP uses eps 1e-5, the temporal encoder 1e-12.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
// x / ||x||₂ along `axis` (the original divides by the norm with no epsilon; eps guards 0 rows).
Tensor l2_normalize(const Tensor& x, int axis = -1, double eps = 0.0);

// ---- softmax (ops/softmax.cpp) ----------------------------------------------------------------
// softmax(x/temperature + mask) along `axis`; the mask (optional) is additive and broadcastable.
Tensor softmax(const Tensor& x, int axis, double temperature = 1.0, const Tensor& mask = Tensor());
Tensor log_softmax(const Tensor& x, int axis, double temperature = 1.0, const Tensor& mask = Tensor());

// ---- reductions (ops/reduce.cpp) ------------------------------------------------------------
Tensor sum(const Tensor& x, int axis, bool keepdim = false);
Tensor mean(const Tensor& x, int axis, bool keepdim = false);
Tensor max(const Tensor& x, int axis, bool keepdim = false);  // gradient to the first maximum
Tensor sum_all(const Tensor& x);                                  // -> shape []
Tensor mean_all(const Tensor& x);
// Σ_axis x·mask / max(Σ_axis mask, 1); mask has x's shape without the trailing dims after `axis`
// (e.g. x [B, N, D], mask [B, N], axis 1 -> [B, D]). As the original's masked mean over frames.
Tensor masked_mean(const Tensor& x, const Tensor& mask, int axis);

// ---- shape and indexing (ops/shape.cpp, ops/index.cpp) ----------------------------------------
Tensor reshape(const Tensor& x, const Shape& shape);  // one dim may be -1
Tensor permute(const Tensor& x, const std::vector<int>& order);  // copies
Tensor transpose(const Tensor& x, int a, int b);
Tensor concat(const std::vector<Tensor>& xs, int axis);
Tensor narrow(const Tensor& x, int axis, int64_t start, int64_t length);
Tensor unsqueeze(const Tensor& x, int axis);
Tensor squeeze(const Tensor& x, int axis);
// Rows of `table` along axis 0 picked by integer `index` (i32/i64) of any shape:
// out shape = index.shape + table.shape[1:]. Embedding lookup.
Tensor index_select(const Tensor& table, const Tensor& index);
// torch.gather: out[.., j, ..] = x[.., index[.., j, ..], ..] along `axis`; index has x's shape
// except along `axis`.
Tensor gather(const Tensor& x, int axis, const Tensor& index);
// For x [B, L, ...] and integer idx [B]: out[b] = x[b, idx[b]] -> [B, ...]. The EOT gather.
Tensor select_rows(const Tensor& x, const Tensor& idx);
// Not differentiable: index of the maximum along the last axis (first one on ties), i64.
Tensor argmax(const Tensor& x, int axis = -1);
// ---- selection and dropout (ops/select.cpp) -----------------------------------------------------
// Not differentiable: positions of the k largest values along `axis`, largest first (ties: the
// lower position first), i64 with x's shape except k along `axis`. 1 <= k <= x.dim(axis).
Tensor topk_indices(const Tensor& x, int axis, int64_t k);
// torch.topk(x, k, axis, largest=True, sorted=True).values; the backward scatters into the picks.
Tensor topk(const Tensor& x, int axis, int64_t k);
// Not differentiable: 1 at the top-k positions along `axis`, 0 elsewhere; x's shape and dtype.
Tensor topk_mask(const Tensor& x, int axis, int64_t k);
// Inverted dropout: x · mask, mask 0 with probability p, else 1/(1-p). The mask is a hash of
// (seed, stream, element index) on either device (identical on CPU and CUDA), so it needs no
// generator state: the same (seed, stream) redraws the same mask. p = 0 returns x.
Tensor dropout(const Tensor& x, double p, uint64_t seed, uint64_t stream);
Tensor dropout_mask(const Shape& shape, DType dtype, Device device, double p, uint64_t seed, uint64_t stream);
// Differentiable dtype cast between floating types (gradient cast back).
Tensor cast(const Tensor& x, DType dtype);

// ---- attention and convolution (ops/attention.cpp, ops/conv.cpp) --------------------------------
// nn.MultiheadAttention self-attention as CLIP uses it: x [B, L, D]; in_proj_weight [3D, D] stacked
// q;k;v, in_proj_bias [3D]; out_proj [D, D] + [D]; heads split D into contiguous slices; q scaled
// by 1/sqrt(D/heads). mask additive: [L, L] (e.g. causal) or [B, L, L] or [B, 1, L] (padding).
Tensor multi_head_attention(const Tensor& x, const Tensor& in_proj_weight, const Tensor& in_proj_bias,
                            const Tensor& out_proj_weight, const Tensor& out_proj_bias, int heads,
                            const Tensor& mask = Tensor());
// Additive causal mask [L, L]: 0 on and below the diagonal, -inf above.
Tensor causal_mask(int64_t L, DType dtype = DType::f32, Device device = Device::cpu);
// Patch embedding: conv with kernel = stride = patch, no bias. x [B, C, H, W], weight [O, C, p, p]
// -> [B, (H/p)·(W/p), O] (tokens row-major over the grid, channels last, as CLIP permutes them).
Tensor patch_embed(const Tensor& x, const Tensor& weight);

// ---- losses (ops/loss.cpp) -------------------------------------------------------------------
// Row-wise cross-entropy: mean_i −log_softmax(logits[i])[target[i]]; logits [B, C], target i64 [B].
Tensor cross_entropy(const Tensor& logits, const Tensor& target);

}  // namespace xclip::ops

namespace xclip {
inline Tensor operator+(const Tensor& a, const Tensor& b) { return ops::add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return ops::sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return ops::mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return ops::div(a, b); }
inline Tensor operator*(const Tensor& a, double s) { return ops::scale(a, s); }
inline Tensor operator-(const Tensor& a) { return ops::neg(a); }
}  // namespace xclip
