// CUDA twins of the CPU reference kernels (include/xclip/kernels/cpu.hpp): same names, same
// argument lists, same semantics, in namespace xclip::cuda. Defined in cuda/*.cu, which are only
// compiled when the build has CUDA (XCLIP_WITH_CUDA); this header itself is plain C++.
//
// Conventions for every function here:
//  - Data pointers (inputs, outputs, index arrays, optimizer buffers) are DEVICE pointers.
//    Metadata arrays that describe the launch (shape, strides, order, the optimizer's slot list)
//    are HOST pointers, read before the call returns.
//  - All work is queued on one stream (xclip::cuda::stream(), a blocking stream, so it stays ordered
//    with the cudaMemcpy/cudaMemset calls of cuda/runtime.cu on the legacy default stream).
//    Functions return without waiting, except the ones that report bad indices (index_rows,
//    gather_axis), which synchronise to read the check back and throw xclip::Error.
//  - Every CUDA/cuBLAS call and every launch is checked; failures throw xclip::Error naming
//    file:line, the call and the CUDA/cuBLAS error string.
//  - Templates are instantiated for float and double, like their CPU twins.
#pragma once
#include <cstddef>
#include <cstdint>

#include "xclip/core/dtype.hpp"
#include "xclip/kernels/cpu.hpp"

namespace xclip::cuda {

using cpu::BinaryOp;
using cpu::UnaryOp;

// ---- context (cuda/context.cu) -------------------------------------------------------------------
// The stream all kernels and cuBLAS calls of this backend run on, as a cudaStream_t (void* here so
// that this header needs no CUDA include). Created on first use.
void* stream();
void synchronize_stream();
// TF32 tensor-core math for f32 GEMMs (about 10-bit mantissa products, f32 accumulation).
// Off by default: f32 GEMMs are then full-precision f32 like the CPU.
void set_allow_tf32(bool allow);
bool allow_tf32();

// ---- GEMM (cuda/gemm.cu), row-major, exactly as cpu::gemm / cpu::gemm_batched -------------------
// Sizes and leading dimensions must fit in int (checked). beta == 0 does not read C.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);
template <class T>
void gemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                  int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                  int64_t stride_c, int64_t batch);
// bf16 inputs, f32 accumulation and f32 output (the autocast matmul): same layout rules.
void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const bf16_t* A,
               int64_t lda, const bf16_t* B, int64_t ldb, float beta, float* C, int64_t ldc);
void gemm_batched_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const bf16_t* A,
                       int64_t lda, int64_t stride_a, const bf16_t* B, int64_t ldb, int64_t stride_b, float beta,
                       float* C, int64_t ldc, int64_t stride_c, int64_t batch);

// ---- elementwise (cuda/elementwise.cu) -----------------------------------------------------------
// shape/strides are host arrays (ndim ≤ 6, as on the CPU).
template <class T>
void binary_broadcast(BinaryOp op, const T* a, const int64_t* a_strides, const T* b, const int64_t* b_strides,
                      T* out, const int64_t* shape, int ndim);
// dst += the sum of src over the broadcast dims (dst_strides 0 there). The nonzero dst strides must
// address distinct elements (they do for the gradient of a broadcast). Deterministic (no atomics).
template <class T>
void sum_to_broadcast(const T* src, const int64_t* shape, int ndim, T* dst, const int64_t* dst_strides);
template <class T>
void unary_forward(UnaryOp op, const T* x, T* y, int64_t n);
template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n);
template <class T>
void affine(const T* x, T* y, int64_t n, T scale, T shift);
template <class T>
void bias_quick_gelu_forward(const T* x, const T* bias, T* y, int64_t rows, int64_t cols);
template <class T>
void bias_quick_gelu_backward(const T* x, const T* bias, const T* gy, T* gx, int64_t rows, int64_t cols);

// ---- layer norm (cuda/layer_norm.cu): statistics in double, gweight/gbias accumulated (+=) -------
template <class T>
void layer_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd, int64_t rows,
                        int64_t dim, double eps);
template <class T>
void layer_norm_backward(const T* gy, const T* x, const T* weight, const T* mean, const T* rstd, T* gx, T* gweight,
                         T* gbias, int64_t rows, int64_t dim);

// ---- softmax over the middle axis of [outer, n, inner] (cuda/softmax.cu) ------------------------
template <class T>
void softmax_forward(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, double inv_temperature, bool log);
template <class T>
void softmax_backward(const T* y, const T* gy, T* gx, int64_t outer, int64_t n, int64_t inner,
                      double inv_temperature, bool log);

// ---- reductions over the middle axis of [outer, n, inner] (cuda/reduce.cu) -----------------------
template <class T>
void reduce_sum(const T* x, T* y, int64_t outer, int64_t n, int64_t inner);
template <class T>
void reduce_max(const T* x, T* y, int64_t* arg, int64_t outer, int64_t n, int64_t inner);  // arg may be null
template <class T>
void broadcast_axis(const T* gy, T* gx, int64_t outer, int64_t n, int64_t inner, T scale);
template <class T>
void scatter_max_grad(const T* gy, const int64_t* arg, T* gx, int64_t outer, int64_t n, int64_t inner);

// ---- data movement, any element size (cuda/copy.cu) ----------------------------------------------
// shape/order are host arrays (ndim ≤ 8).
void permute_copy(const void* x, void* y, size_t elem_size, const int64_t* shape, const int* order, int ndim);
void copy_axis_block(const void* src, void* dst, size_t elem_size, int64_t outer, int64_t n_src, int64_t n_dst,
                     int64_t offset, int64_t inner);
void slice_axis_block(const void* src, void* dst, size_t elem_size, int64_t outer, int64_t n_src, int64_t n_dst,
                      int64_t offset, int64_t inner);

// ---- indexing (cuda/index.cu); index arrays are device int64 ------------------------------------------
// Synchronises and throws xclip::Error if an index is out of range (as the CPU does).
void index_rows(const void* table, int64_t rows, int64_t row_bytes, const int64_t* index, int64_t count, void* out);
// += with atomicAdd (order of additions to a repeated row is unspecified). The indices must be
// valid (index_rows checked them in the forward; there is no row count here to check against).
template <class T>
void index_rows_backward(const T* gout, const int64_t* index, int64_t count, int64_t row_len, T* gtable);
template <class T>  // synchronises and throws on an out-of-range index
void gather_axis(const T* x, const int64_t* index, T* out, int64_t outer, int64_t n, int64_t m, int64_t inner);
template <class T>  // += with atomicAdd; out-of-range indices skipped
void gather_axis_backward(const T* gout, const int64_t* index, T* gx, int64_t outer, int64_t n, int64_t m,
                          int64_t inner);

// ---- selection and dropout (cuda/select.cu): the same picks and masks as the CPU twins ---------------
template <class T>
void topk_axis(const T* x, int64_t* index, int64_t outer, int64_t n, int64_t k, int64_t inner);
template <class T>
void dropout_mask(T* mask, int64_t n, double p, uint64_t seed, uint64_t stream);

// ---- patch-embedding convolution helpers (cuda/conv.cu) ----------------------------------------------
template <class T>
void im2col_patches(const T* x, T* cols, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p);
template <class T>
void col2im_patches(const T* gcols, T* gx, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p);

// ---- gradient-norm helpers (cuda/norm.cu) ----------------------------------------------------------
// Σ x² in double; synchronises the stream and returns the value on the host.
template <class T>
double sum_squares(const T* x, int64_t n);
template <class T>
void scale_by(T* x, int64_t n, double c);  // x = T(double(x) · c)

// ---- fused optimizer steps over many parameters (cuda/optimizer.cu) -----------------------------------
using cpu::AdamSlot;  // the buffers on the device, the slot array on the host
// Exactly cpu::bert_adam_step (src/kernels/optimizer.cpp): per-parameter grad-norm clipping
// (max_grad_norm ≤ 0 disables; norm in double), then m, v, u, p in T with the CPU's rounding order.
template <class T>
void bert_adam_step(const AdamSlot<T>* slots, int64_t count, double b1, double b2, double e, double max_grad_norm);
// Exactly cpu::adamw_step (torch.optim.AdamW) for every slot.
template <class T>
void adamw_step(const AdamSlot<T>* slots, int64_t count, double b1, double b2, double eps);

// ==== the --official_fp16 optimizer (cuda/optimizer_fp16.cu) =======================================
// Exactly cpu::bert_adam_fp16_step and its helpers (include/xclip/kernels/cpu.hpp), bit for bit:
// the element arithmetic is the shared xclip/kernels/fp16_rounding.hpp, and the fp16 norms are
// exact sums, so no reduction order can change them. Slot arrays are host arrays.
using cpu::Fp16AdamConstants;
using cpu::Fp16AdamSlot;
// One fused launch sequence for all slots (per-slot norms and clip coefficients stay on the device).
void bert_adam_fp16_step(const Fp16AdamSlot* slots, int64_t count, const Fp16AdamConstants& k);
float f16_norm(const float* x, int64_t n);  // synchronises; the value comes back to the host
void f16_scale(float* x, int64_t n, float c);
void divide_by(float* x, int64_t n, float d, bool in_f16);
int64_t first_non_f16_value(const float* x, int64_t n);  // synchronises

}  // namespace xclip::cuda

// ==== fused AOSM frame-word term (cuda/aosm.cu) ====================================================
namespace xclip::cuda {

using cpu::AosmPool;

// Exactly cpu::aosm_frame_word (same arguments; words, frames, masks, matrices and out on the
// device): one thread block per (text, tile of videos) forms the tile's L × (tile·N) dot products
// in registers, keeps only those blocks in shared memory and pools each pair with one warp. Sizes
// beyond its register/shared-memory budget (aosm_frame_word_fits false) throw xclip::Error.
template <class T>
void aosm_frame_word(const T* words, const T* frames, const T* word_mask, const T* frame_mask, const T* word_mat,
                     const T* frame_mat, const T* frame_mat2, const T* word_mat2, AosmPool first, AosmPool second,
                     double temperature, T* out, int64_t n_texts, int64_t n_words, int64_t n_videos,
                     int64_t n_frames, int64_t dim);
// Whether aosm_frame_word handles L words × N frames for elements of `elem_size` bytes on the
// current device (⌈L/4⌉·⌈N/4⌉ at most 256: one 4 × 4 register tile per thread, so L·N ≤ 4096
// when both are multiples of 4; and its shared memory within the device's limit).
bool aosm_frame_word_fits(int64_t n_words, int64_t n_frames, size_t elem_size);

}  // namespace xclip::cuda
