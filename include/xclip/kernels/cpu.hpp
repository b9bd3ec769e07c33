// CPU reference kernels: plain functions over raw pointers and sizes, no tensors inside.
// The CUDA twins in cuda/ have the same names and signatures in namespace xclip::cuda.
// Templates are instantiated for float and double.
#pragma once
#include <cstddef>
#include <cstdint>

#include "xclip/core/dtype.hpp"

namespace xclip::cpu {

// ---- GEMM (src/kernels/gemm.cpp) -------------------------------------------------------------
// Row-major C[M,N] = alpha · op(A) · op(B) + beta · C, op(X) = X or Xᵀ.
// A is [M,K] (row stride lda) or, with trans_a, [K,M]; B is [K,N] or, with trans_b, [N,K].
// beta == 0 overwrites C without reading it (NaNs in C do not propagate). Multi-threaded (OpenMP).
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);
// `batch` independent GEMMs; matrix i starts at A + i·stride_a etc. (stride 0 = shared operand).
template <class T>
void gemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                  int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                  int64_t stride_c, int64_t batch);

// bf16 inputs, f32 accumulation and f32 output (the autocast matmul; src/kernels/gemm_bf16.cpp).
// The inputs are widened to f32 (exact) and multiplied by gemm_batched<float>: the product of two
// bf16 values is exact in f32, so the result is what an f32-accumulating bf16 GEMM gives up to
// the order of the additions. Same layout rules as gemm_batched.
void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const bf16_t* A,
               int64_t lda, const bf16_t* B, int64_t ldb, float beta, float* C, int64_t ldc);
void gemm_batched_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const bf16_t* A,
                       int64_t lda, int64_t stride_a, const bf16_t* B, int64_t ldb, int64_t stride_b, float beta,
                       float* C, int64_t ldc, int64_t stride_c, int64_t batch);

// Number of threads the CPU kernels use (OpenMP); set_num_threads(0) restores the default.
int num_threads();
void set_num_threads(int n);

}  // namespace xclip::cpu

namespace xclip::cpu {

// ---- elementwise (src/kernels/elementwise.cpp) ---------------------------------------------
enum class BinaryOp { add, sub, mul, div };
// out[i] = a[ia] op b[ib] over `shape` (ndim ≤ 6); a_strides/b_strides are element strides per
// output dim, 0 where the operand is broadcast.
template <class T>
void binary_broadcast(BinaryOp op, const T* a, const int64_t* a_strides, const T* b, const int64_t* b_strides,
                      T* out, const int64_t* shape, int ndim);
// dst[id] += src[i] over `shape`, dst_strides 0 on broadcast dims: the gradient of a broadcast.
// dst must be zeroed by the caller.
template <class T>
void sum_to_broadcast(const T* src, const int64_t* shape, int ndim, T* dst, const int64_t* dst_strides);

// relu: max(x, 0); relu6: min(max(x, 0), 6). Their derivative is 1 strictly inside the linear
// range and 0 elsewhere (at x = 0 and x = 6 too), as PyTorch's threshold / hardtanh backward.
enum class UnaryOp { exp, log, sqrt, tanh, sigmoid, quick_gelu, gelu, neg, relu, relu6 };
template <class T>
void unary_forward(UnaryOp op, const T* x, T* y, int64_t n);
// gx = gy · f'(x); y = f(x) is passed too because some derivatives are cheapest from it.
template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n);
template <class T>
void affine(const T* x, T* y, int64_t n, T scale, T shift);  // y = x·scale + shift
// CLIP's c_fc bias and QuickGELU in one pass over x [rows, cols], bias [cols]: t = x + bias (as the
// broadcast add rounds it), y = t·sigmoid(1.702·t); the backward recomputes t and writes
// gx = gy·QuickGELU'(t) (the bias gradient is the column sum of gx, left to sum_to_broadcast).
// Same arithmetic as add followed by unary quick_gelu, so the results are the same bit for bit.
template <class T>
void bias_quick_gelu_forward(const T* x, const T* bias, T* y, int64_t rows, int64_t cols);
template <class T>
void bias_quick_gelu_backward(const T* x, const T* bias, const T* gy, T* gx, int64_t rows, int64_t cols);

// ---- layer norm over the last dimension (src/kernels/layer_norm.cpp) ------------------------------
// mean/rstd [rows] are saved for the backward. Statistics are accumulated in double for f32.
template <class T>
void layer_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd, int64_t rows,
                        int64_t dim, double eps);
// gx overwritten; gweight/gbias accumulated (+=), may be null.
template <class T>
void layer_norm_backward(const T* gy, const T* x, const T* weight, const T* mean, const T* rstd, T* gx, T* gweight,
                         T* gbias, int64_t rows, int64_t dim);

// ---- softmax over the middle axis of [outer, n, inner] (src/kernels/softmax.cpp) ---------------------
// y = softmax(x·inv_temperature) (or log_softmax when `log`); max-subtracted, exp/sum in the
// element type with the sum accumulated in double for f32.
template <class T>
void softmax_forward(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, double inv_temperature, bool log);
// gx = dL/dx given y and gy (softmax: y·(gy − Σ gy·y)·invT; log_softmax: (gy − softmax·Σgy)·invT).
template <class T>
void softmax_backward(const T* y, const T* gy, T* gx, int64_t outer, int64_t n, int64_t inner,
                      double inv_temperature, bool log);

// ---- reductions over the middle axis of [outer, n, inner] (src/kernels/reduce.cpp) -----------------
template <class T>
void reduce_sum(const T* x, T* y, int64_t outer, int64_t n, int64_t inner);
// y = max; arg = index of the first maximum (NaN counts as maximum).
template <class T>
void reduce_max(const T* x, T* y, int64_t* arg, int64_t outer, int64_t n, int64_t inner);
// gx = gy broadcast along the axis (times `scale`).
template <class T>
void broadcast_axis(const T* gy, T* gx, int64_t outer, int64_t n, int64_t inner, T scale);
// gx = 0 except gx[arg] = gy.
template <class T>
void scatter_max_grad(const T* gy, const int64_t* arg, T* gx, int64_t outer, int64_t n, int64_t inner);

// ---- data movement, any element size (src/kernels/copy.cpp) ---------------------------------------
// y = x permuted: y's dim i is x's dim order[i]. `shape` is x's shape.
void permute_copy(const void* x, void* y, size_t elem_size, const int64_t* shape, const int* order, int ndim);
// Copies an [outer, n_src, inner] block into columns [offset, offset+n_src) of [outer, n_dst, inner].
void copy_axis_block(const void* src, void* dst, size_t elem_size, int64_t outer, int64_t n_src, int64_t n_dst,
                     int64_t offset, int64_t inner);
// The reverse: columns [offset, offset+n_dst) of src [outer, n_src, inner] into dst [outer, n_dst, inner].
void slice_axis_block(const void* src, void* dst, size_t elem_size, int64_t outer, int64_t n_src, int64_t n_dst,
                      int64_t offset, int64_t inner);

// ---- indexing (src/kernels/index.cpp) ---------------------------------------------------------------
// out[i, :] = table[index[i], :] for i < count; every index checked against rows (throws).
void index_rows(const void* table, int64_t rows, int64_t row_bytes, const int64_t* index, int64_t count, void* out);
template <class T>
void index_rows_backward(const T* gout, const int64_t* index, int64_t count, int64_t row_len, T* gtable);  // +=
// x [outer, n, inner], index [outer, m, inner] -> out [outer, m, inner]: out = x[o, index, i].
template <class T>
void gather_axis(const T* x, const int64_t* index, T* out, int64_t outer, int64_t n, int64_t m, int64_t inner);
template <class T>
void gather_axis_backward(const T* gout, const int64_t* index, T* gx, int64_t outer, int64_t n, int64_t m,
                          int64_t inner);  // +=

// ---- selection and dropout (src/kernels/select.cpp) ------------------------------------------------
// x [outer, n, inner] -> index [outer, k, inner]: the positions of the k largest values along the
// middle axis, largest first (ties: the lower position first). 1 <= k <= n.
template <class T>
void topk_axis(const T* x, int64_t* index, int64_t outer, int64_t n, int64_t k, int64_t inner);
// mask[i] = 0 with probability p, else 1/(1-p), drawn from a hash of (seed, stream, i): no state.
template <class T>
void dropout_mask(T* mask, int64_t n, double p, uint64_t seed, uint64_t stream);

// ---- patch-embedding convolution helpers (src/kernels/conv.cpp) --------------------------------------
// x [B, C, H, W] -> cols [B·gh·gw, C·p·p] (kernel = stride = p; rows row-major over the grid).
template <class T>
void im2col_patches(const T* x, T* cols, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p);
// The adjoint: gx [B, C, H, W] from gcols (pixels outside the grid, if H % p != 0, get 0).
template <class T>
void col2im_patches(const T* gcols, T* gx, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p);

// ---- gradient-norm helpers (src/kernels/norm.cpp) ---------------------------------------------------
// Σ x² accumulated in double, in index order.
template <class T>
double sum_squares(const T* x, int64_t n);
// x = T(double(x) · c): the scaling clip_grad_norm applies (the product is formed in double).
template <class T>
void scale_by(T* x, int64_t n, double c);

// ==== BertAdam and AdamW over many parameters (src/kernels/optimizer.cpp; twin: cuda/optimizer.cu) ====
// One parameter's buffers and its scalars. The slot array itself is a host array; the buffers are
// on the twin's device.
template <class T>
struct AdamSlot {
  T* param = nullptr;
  T* grad = nullptr;  // BertAdam writes the clipped gradient back, as clip_grad_norm_ does
  T* m = nullptr;
  T* v = nullptr;
  int64_t numel = 0;
  double lr = 0;            // BertAdam: lr_t = lr · schedule(step / t_total); AdamW: lr · schedule
  double weight_decay = 0;
  int64_t step = 0;         // AdamW only: the step count after incrementing (≥ 1), for bias correction
};
// The original's BertAdam (modules/optimization.py) for every slot: per-parameter grad-norm
// clipping (max_grad_norm ≤ 0 disables; Σg² in double, g = T(double(g)·c) as clip_grad_norm_),
// then in T, in PyTorch's op order: m ← b1·m + (1 − b1)·g; v ← b2·v + (1 − b2)·g²;
// u ← m / (sqrt(v) + e) (no bias correction); u ← u + wd·p when wd > 0; p ← p − lr·u.
template <class T>
void bert_adam_step(const AdamSlot<T>* slots, int64_t count, double b1, double b2, double e, double max_grad_norm);
// torch.optim.AdamW for every slot: p ← p·(1 − lr·wd); Adam with bias correction at `step`.
template <class T>
void adamw_step(const AdamSlot<T>* slots, int64_t count, double b1, double b2, double eps);

// ==== the --official_fp16 optimizer: BertAdam on fp16 values (src/kernels/optimizer_fp16.cpp) ====
// The original's BertAdam on its fp16 CLIP weights as PyTorch 1.7's CUDA Half kernels compute it:
// each op in f32, its result rounded to fp16 (the rules: src/train/bert_adam_fp16.cpp; the element
// arithmetic, shared with the CUDA twin: xclip/kernels/fp16_rounding.hpp). "fp16 value" below
// means an f32 float holding exactly an fp16 value.

// The Python-float constants of the update, each converted to Half as the kernels convert them.
struct Fp16AdamConstants {
  float b1 = 0, one_minus_b1 = 0, b2 = 0, one_minus_b2 = 0, e = 0;
  bool clip = false;        // max_grad_norm > 0: each gradient is clipped to its own norm first
  float max_grad_norm = 0;  // fp16(max_grad_norm)
  float clip_eps = 0;       // fp16(1e-6), added to the norm
};
Fp16AdamConstants fp16_adam_constants(double b1, double b2, double e, double max_grad_norm);

// One parameter. The slot array is a host array; the buffers live on the kernel's device.
struct Fp16AdamSlot {
  float* param = nullptr;       // fp16 values in f32 storage, or
  f16_t* param_f16 = nullptr;   // in f16 storage: exactly one of the two is set
  const float* grad = nullptr;  // rounded to fp16 and clipped on reading; never written
  f16_t* m = nullptr;
  f16_t* v = nullptr;
  int64_t numel = 0;
  float lr = 0;            // fp16(lr_t), lr_t = lr · schedule(step / t_total)
  float weight_decay = 0;  // fp16(wd), used when decay
  bool decay = false;      // wd > 0
};
// The slot's scalars from the group's lr_t and weight decay, rounded as the kernels round them.
void set_fp16_adam_scalars(Fp16AdamSlot& slot, double lr_t, double weight_decay);

// One optimizer step of every slot: g = fp16(grad), clipped (per slot) when k.clip, then the
// update of m, v (f16) and the parameter in PyTorch's op order; the parameter stays fp16.
void bert_adam_fp16_step(const Fp16AdamSlot* slots, int64_t count, const Fp16AdamConstants& k);
// ‖fp16(x)‖ rounded to fp16 (torch.norm of an fp16 tensor), from the exact Σ fp16(x)²: the CUDA
// twin returns the same bits (it synchronises and returns the value on the host).
float f16_norm(const float* x, int64_t n);
// x ← fp16(fp16(x) · c) in place, c an fp16 value: grad.mul_(clip_coef) on an fp16 gradient.
void f16_scale(float* x, int64_t n, float c);
// x ← x / d in f32, or with in_f16 fp16(fp16(x) / d): DDP's average on an fp32 / fp16 bucket.
void divide_by(float* x, int64_t n, float d, bool in_f16);
// The index of the first element that is not an fp16 value (NaN counts as one), or -1.
int64_t first_non_f16_value(const float* x, int64_t n);

}  // namespace xclip::cpu

// ==== fused AOSM frame-word term (src/kernels/aosm.cpp) ==========================================
// The frame-word term of the X-CLIP head (include/xclip/models/heads/xclip_head.hpp) for evaluation,
// without ever storing c = w·fᵀ [T, L, V, N]: each (text, video) pair's L×N block is formed in a
// small buffer and pooled at once.
namespace xclip::cpu {

// The pooling of one AOSM stage (models::Pool has the same three kinds).
enum class AosmPool : int { attention = 0, mean = 1, max = 2 };

// out[t, v] = 0.5·(sent2frame + video2word) for words [T, L, D] (already · local_mat_weight) and
// frames [V, N, D], with c[l, n] = words[t, l]·frames[v, n]:
//   word_level[n]  = pool_l(c[:, n]; first, word_mat)     frame_level[l] = pool_n(c[l, :]; first, frame_mat)
//   sent2frame     = pool_n(word_level; second, frame_mat2) video2word   = pool_l(frame_level; second, word_mat2)
// word_mask [T, L] / frame_mask [V, N]: 0/1 values, or null (no padding mask). The mixing
// matrices ([L, L] or [N, N], w'_j = Σ_i w_i·M[i, j]) are read for attention pooling only; null =
// identity. Same arithmetic as models::aosm_pool over the materialised tensor (masks folded into
// the softmax as x + τ·(m − 1)·1e6 in the element type, softmax sums in double). out is [T, V].
template <class T>
void aosm_frame_word(const T* words, const T* frames, const T* word_mask, const T* frame_mask, const T* word_mat,
                     const T* frame_mat, const T* frame_mat2, const T* word_mat2, AosmPool first, AosmPool second,
                     double temperature, T* out, int64_t n_texts, int64_t n_words, int64_t n_videos,
                     int64_t n_frames, int64_t dim);
// The argument checks both twins make: throws xclip::Error naming `who` unless T, V, D ≥ 0,
// L, N ≥ 1 and temperature > 0.
void aosm_frame_word_check(const char* who, int64_t n_texts, int64_t n_words, int64_t n_videos, int64_t n_frames,
                           int64_t dim, double temperature);

}  // namespace xclip::cpu
