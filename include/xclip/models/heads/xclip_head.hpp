// The X-CLIP head family (modules/modeling_xclip.py, _loose_similarity and
// _attenion_over_fine_grained_sim_matrix): the temporal encoder (seqTransf), the four contrasts
// with AOSM, as a head Module (XClipHead) and as the differentiable functions it is made of.
// Sources: src/models/heads/xclip/ (head.cpp the module, similarity.cpp the contrasts and
// aosm_pool, frame_word_chunked.cpp / frame_word_fused.cpp the two paths of the frame-word term).
// Parameters, under the official state_dict names:
//   global_mat_weight, word_logit_weight, frame_logit_weight, local_mat_weight, frame_mat_weight,
//   word_mat_weight, frame_mat_weight2, word_mat_weight2   (learnable_aosm; identity at start)
//   frame_position_embeddings.weight, transformerClip.resblocks.N.*   (seqTransf only)
// Notation (xclip-spec.md §5): T texts, V videos, L = max_words, N = max_frames, D = embed dim,
// τ the AOSM temperature, λ = exp(clip.logit_scale). "x · M" mixes a vector of softmax weights
// along its axis: x'_j = Σ_i x_i·M[i, j].
//
//   video-sentence  VS = λ · (t · global_mat_weight) · vᵀ
//   video-word      a = w·vᵀ [T,L,V];   VW = λ · pool_L(a;  word_logit_weight)
//   sentence-frame  b = t·fᵀ [T,V,N];   SF = λ · pool_N(b;  frame_logit_weight)
//   frame-word      c = (w · local_mat_weight)·fᵀ [T,L,V,N]
//                   wl = pool_L(c; word_mat_weight)  [T,V,N],  fl = pool_N(c; frame_mat_weight) [T,L,V]
//                   FW = λ · (pool_N(wl; frame_mat_weight2) + pool_L(fl; word_mat_weight2)) / 2
//   logits = (sum of the enabled terms) / (number of enabled terms)      (official: all four, /4)
// with pool_k(x; M) = Σ_k x_k · (softmax_k(x/τ) · M)_k for the attention aggregation (see
// head_config.hpp for mean / max and for which stage uses which pooling).
#pragma once
#include <vector>

#include "xclip/core/tensor.hpp"
#include "xclip/models/heads/head.hpp"
#include "xclip/models/temporal_encoder.hpp"

namespace xclip::models {

// The eight learnable matrices, in the official registration order. All undefined when
// learnable_aosm is off (they are then the identity and no parameters exist).
struct AosmMatrices {
  Tensor global_mat_weight;   // [D, D]  video-sentence bilinear form
  Tensor word_logit_weight;   // [L, L]  video-word softmax mixing
  Tensor frame_logit_weight;  // [N, N]  sentence-frame softmax mixing
  Tensor local_mat_weight;    // [D, D]  frame-word bilinear form
  Tensor frame_mat_weight;    // [N, N]  frame-word, first stage over frames
  Tensor word_mat_weight;     // [L, L]  frame-word, first stage over words
  Tensor frame_mat_weight2;   // [N, N]  frame-word, second stage over frames
  Tensor word_mat_weight2;    // [L, L]  frame-word, second stage over words

  static const std::vector<const char*>& names();
  std::vector<Tensor*> all();  // same order as names()
  bool defined() const { return global_mat_weight.defined(); }
  // Identity matrices of the configured sizes (what the original's torch.eye gives).
  static AosmMatrices identity(int64_t embed_dim, int64_t max_words, int64_t max_frames, DType dtype);
};

// Text side of the head, L2-normalised: sentence [T, D], words [T, L, D] (all L positions),
// attention_mask [T, L] (1 real token, 0 padding; read only with mask_padding).
struct TextSide {
  Tensor sentence;
  Tensor words;
  Tensor mask;
};

// Video side of the head: video [V, D] (masked mean of L2-normalised temporal outputs,
// renormalised), frames [V, N, D] (L2-normalised, raw CLIP features by default), video_mask [V, N].
struct VideoSide {
  Tensor video;
  Tensor frames;
  Tensor mask;
};

// sentence [T, D] or [T, 1, D] (the EOT feature), words [T, L, D] (every position).
TextSide make_text_side(const TextFeatures& texts);
// frames [V, N, D] raw CLIP frame features; temporal [V, N, D] the temporal encoder's output
// (the frames themselves for meanP); video_mask [V, N].
VideoSide make_video_side(const HeadConfig& config, const Tensor& frames, const Tensor& temporal,
                          const Tensor& video_mask);

// Each term already multiplied by λ; undefined when the contrast is off. logits [T, V].
struct SimilarityTerms {
  Tensor video_sentence;
  Tensor video_word;
  Tensor sentence_frame;
  Tensor frame_word;
  Tensor logits;
};

// logit_scale is clip.logit_scale (the log; λ = exp of it), shape [] or [1].
SimilarityTerms similarity_terms(const HeadConfig& config, const AosmMatrices& aosm, const Tensor& logit_scale,
                                 const TextSide& text, const VideoSide& video);

// The frame-word term before λ, [T, V]. Without gradients (evaluation) it is the fused kernel
// (detail::frame_word_fused), which never stores the [T, L, V, N] matrix. With gradients it is the
// graph of aosm_pool ops; when the matrix has more than config.frame_word_chunk_elements elements
// it is built for chunks of texts at a time, each chunk's graph dropped after the forward and
// rebuilt in the backward, so the memory of the term is bounded by one chunk whatever T is.
Tensor frame_word_similarity(const HeadConfig& config, const AosmMatrices& aosm, const TextSide& text,
                             const VideoSide& video);

// One AOSM stage: reduces `x` along `axis`. attention: Σ x ⊙ (softmax(x/τ) · mix) with `mix`
// [n, n] (undefined = identity); mean; max. `mask` (undefined or 0/1, broadcastable to x, full
// size along `axis`) excludes padded positions from the softmax, the mean, the max and the sum.
Tensor aosm_pool(const Tensor& x, int axis, Pool pool, double temperature, const Tensor& mix, const Tensor& mask);

namespace detail {
// A 0/1 mask as `dtype` viewed with `shape` (broadcastable against the similarities); no grad.
Tensor mask_as(const Tensor& mask, DType dtype, const Shape& shape);

// The tensors of the frame-word term; an undefined matrix is the identity (local) or absent
// (the mixing matrices, which only attention pooling has).
struct FrameWordInputs {
  Tensor words;   // [T, L, D]
  Tensor frames;  // [V, N, D]
  Tensor local_mat_weight, word_mat_weight, frame_mat_weight, frame_mat_weight2, word_mat_weight2;
};
// Whether the fused kernel takes L words × N frames of `dtype` on `device` (the CPU always does;
// the CUDA kernel has a register and shared-memory budget).
bool frame_word_fused_fits(Device device, DType dtype, int64_t L, int64_t N);
// The frame-word term before λ, [T, V], without gradients: words · local_mat_weight by
// ops::matmul, then k::aosm_frame_word, which never stores the [T, L, V, N] matrix. Same value as
// the graph of frame_word_similarity to the rounding of the dot products.
Tensor frame_word_fused(const HeadConfig& config, const FrameWordInputs& in, const Tensor& word_mask,
                        const Tensor& frame_mask);
}  // namespace detail

// The X-CLIP head: the matrices (own parameters) and the temporal encoder (merged, seqTransf).
class XClipHead : public SimilarityHead {
 public:
  XClipHead(const HeadConfig& config, const HeadDims& dims, DType dtype = DType::f32);
  const AosmMatrices& aosm() const { return aosm_; }

  VideoSide video_side(const VideoFeatures& videos, Tensor* temporal_out = nullptr) const;
  // The four terms of all texts against all videos (one graph).
  SimilarityTerms terms(const TextFeatures& texts, const VideoFeatures& videos, const Tensor& logit_scale) const;

  // Intermediates: sentence_output, word_features, visual_output_temporal, video_output,
  // frame_features and logits.<contrast> for every contrast that is on.
  HeadOutput forward(const TextFeatures& texts, const VideoFeatures& videos, const Tensor& logit_scale) const override;
  // The temporal encoder runs once per video block (the original re-runs it for every text
  // block: same values). Memory: the normalised features plus one block's head.
  Tensor similarity_matrix(const TextFeatures& texts, const VideoFeatures& videos,
                           const Tensor& logit_scale) const override;
  // The eight matrices to the identity; the temporal encoder as TemporalEncoder::reset_parameters.
  void reset_parameters(uint64_t seed = 42) override;
  // The matrices: after the gather, decayed, f32; the temporal encoder: before the gather,
  // decayed unless a bias, f32. Neither is in the CLIP groups.
  ParamRole param_role(const std::string& name) const override;

 private:
  AosmMatrices aosm_;
};

}  // namespace xclip::models
