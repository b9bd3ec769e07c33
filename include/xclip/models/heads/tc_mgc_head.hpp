// The TC-MGC head family ("Text-Conditioned Multi-Grained Contrast"; spec: followups-spec.md
// Part A): X-CLIP's temporal encoder, then a language-video attention block (LVA) that conditions
// the video on the sentence and on every word position, four similarity terms with similarity
// reorganisation (top-k, SR) and interactive similarity aggregation (ISA), a learned softmax
// fusion of the terms (LSA), and a decorrelation regulariser (SDR) added to the loss.
// Sources: src/models/heads/tc_mgc/ (lva.cpp the LVA block, reorganize.cpp SR + ISA, terms.cpp the
// four terms + LSA + SDR, head.cpp the module and the tiled evaluation).
//
// Notation: T texts, V videos, L = max_words, N = max_frames, D = embed dim, k = int(L·keep_rate),
// λs = softmax_lambda, τ = exp(clip.logit_scale). Inputs are the raw (un-normalised) features.
//   h  = temporal encoder output [V, N, D] (with its residual)
//   v̂ = l2norm(LVA(s⁰, h)) [T, V, D]        f = l2norm(LVA(w⁰, h)) [T, L, V, D]
//   s = l2norm(s⁰) [T, D],  w = l2norm(w⁰) [T, L, D]
//   ISA_W(x) = Σ_j x_j·a_j,  a = softmax(λs·(softmax(λs·x)·W))         (x the ranked similarities)
//   VS (1)  τ · (s·global_mat_weight)·v̂_tv
//   VW (2)  τ · ISA_{attentive_word_logit_weight}(topk_i(w_ti·v̂_tv))
//   SF (3)  τ · ISA_{concat_frame_word_logit_weight}([topk_i(s_t·f_tiv), Σ softmax(rest)·rest])
//   FW (4)  M[t,i,v,j] = (w_ti·local_mat_weight)·f_tjv, top-k over i then over j -> [k, k]
//           τ · (ISA_{W_c}(ISA_{W_a} per column) + ISA_{W_d}(ISA_{W_b} per row)) / 2
//   S = Σ_g softmax_g(z·logit_weight)_g Z_g     (z = the G enabled terms of a pair, in order)
//   extra_loss = sdr_loss_weight · mean_t Var_g(Z_g[t, t])   (unbiased variance)
//
// Memory: the training forward builds f and the frame-word matrix whole: T·L·V·D + T·L²·V floats
// per activation (B = 128 global, L = 32, D = 512: ≈ 1.07 GB for f alone, like the original). The
// evaluation (similarity_matrix) tiles batch_size_val texts × videos and inside a block builds f
// for at most frame_word_chunk_elements elements at a time, so its memory is bounded.
#pragma once
#include <string>
#include <vector>

#include "xclip/core/tensor.hpp"
#include "xclip/models/heads/head.hpp"

namespace xclip::models {

// The family's options (registry.cpp declares them with their defaults), parsed and checked.
struct TcMgcOptions {
  bool sdr_loss = true;            // sdr_loss_flag
  double sdr_loss_weight = 0.5;    // α
  double keep_rate = 0.1;          // k = int(max_words · keep_rate)
  double softmax_lambda = 100;     // λs of ISA
  int num_mha_heads = 1;           // LVA heads
  double transformer_dropout = 0.3;
  std::vector<int> interaction_type = {1, 2, 3, 4};  // 1 VS, 2 VW, 3 SF, 4 FW, in LSA order
  std::string lsa_init = "eye";    // "eye" or "zeros" (softmax of 0: the plain mean of the terms)
  bool lva_mask_frames = false;    // padded frames excluded from the LVA softmax (a deviation)
  int64_t k = 3;                   // derived

  // Throws naming the key on a bad value; embed_dim checks num_mha_heads.
  static TcMgcOptions from(const HeadConfig& config, int64_t embed_dim);
  bool has(int type) const;
  int count() const { return int(interaction_type.size()); }
};

// The head's parameters (registration order = the official state_dict's).
struct TcMgcParams {
  Tensor global_mat_weight;                 // [D, D]
  Tensor local_mat_weight;                  // [D, D]
  Tensor attentive_word_logit_weight;       // [k, k]       VW
  Tensor concat_frame_word_logit_weight;    // [k+1, k+1]   SF
  Tensor attentive_word_mat_weight;         // [k, k]       FW W_a
  Tensor attentive_word_mat_weight2;        // [k, k]       FW W_d
  Tensor attentive_frame_word_mat_weight;   // [k, k]       FW W_b
  Tensor attentive_frame_word_mat_weight2;  // [k, k]       FW W_c
  Tensor logit_weight;                      // [G, G]       LSA
  Tensor proj_weight, proj_bias;            // conditional_transformer.pool_frames.linear_proj
  Tensor ln1_weight, ln1_bias, ln2_weight, ln2_bias, ln3_weight, ln3_bias;

  static const std::vector<std::string>& names();
  std::vector<Tensor*> all();  // same order as names()
};

// The LVA block (lva.cpp). queries [n_q, D], frames h [V, N, D] (raw), video_mask [V, N] (read only
// when mask_frames) -> [n_q, V, D]. LN1 on both sides, attention over the N frames (values = keys),
// LN2, u + dropout(linear(u)), LN3; eps 1e-5.
Tensor language_video_attention(const TcMgcParams& p, const Tensor& queries, const Tensor& frames,
                                const Tensor& video_mask, int heads, bool mask_frames, const DropoutDraw& dropout,
                                uint64_t call);

// Similarity reorganisation + ISA (reorganize.cpp); the ranked axis is the last one.
Tensor top_k_sorted(const Tensor& x, int64_t k);  // [..., n] -> [..., k], largest first
// [..., n] -> [..., k+1]: the top k, then the temperature-1 softmax-weighted sum of the other n-k
// (0 when none is left).
Tensor top_k_with_fused_rest(const Tensor& x, int64_t k);
// ISA over the last axis: [..., n], W [n, n] -> [...].
Tensor interactive_similarity_aggregation(const Tensor& x, const Tensor& mix, double lambda);

// The terms of one block (terms.cpp), each × τ; undefined when not in interaction_type.
struct TcMgcTerms {
  Tensor video_sentence, video_word, sentence_frame, frame_word;  // [T, V]
  Tensor video_conditioned;                                         // v̂ [T, V, D]
  Tensor frame_conditioned;                                         // f [T, L, V, D]
  Tensor fused;                                                     // S [T, V]
};
struct TcMgcInputs {
  Tensor sentence;    // s⁰ [T, D] raw
  Tensor words;       // w⁰ [T, L, D] raw
  Tensor temporal;    // h [V, N, D]
  Tensor video_mask;  // [V, N]
};
TcMgcTerms tc_mgc_terms(const TcMgcOptions& o, const TcMgcParams& p, const Tensor& tau, const TcMgcInputs& in,
                        const DropoutDraw& dropout);
// α · mean_t Var_g(Z_g[t, t]) over the terms of a square batch; shape [].
Tensor similarity_decorrelation(const TcMgcOptions& o, const TcMgcTerms& terms);

class TcMgcHead : public SimilarityHead {
 public:
  TcMgcHead(const HeadConfig& config, const HeadDims& dims, DType dtype = DType::f32);
  const TcMgcOptions& options() const { return options_; }
  const TcMgcParams& params() const { return params_; }

  // Intermediates: visual_output_temporal, video_output_conditioned, frame_output_conditioned,
  // logits.<term> (enabled ones), loss.sdr (with sdr_loss_flag). extra_loss = the SDR term.
  // Dropout (transformer_dropout > 0) applies here, masks drawn from set_step_seed's (seed, step).
  HeadOutput forward(const TextFeatures& texts, const VideoFeatures& videos, const Tensor& logit_scale) const override;
  // No dropout; blocks of batch_size_val texts × videos, each built in pieces of at most
  // frame_word_chunk_elements elements of f.
  Tensor similarity_matrix(const TextFeatures& texts, const VideoFeatures& videos,
                           const Tensor& logit_scale) const override;
  // The small matrices to I (logit_weight per lsa_init), linear_proj N(0, 0.02) / 0, the layer
  // norms 1 / 0, the temporal encoder as X-CLIP's.
  void reset_parameters(uint64_t seed = 42) override;
  // Nothing is CLIP's; decayed unless the name contains "bias"; f32; every parameter but the
  // temporal encoder's is used after the gather (TC-MGC gathers the raw features before the LVA).
  ParamRole param_role(const std::string& name) const override;
  // The official state_dict's four never-used conditional_transformer.pool_frames.cross_attn
  // projections: accepted on load and dropped.
  bool ignores_state_name(const std::string& name) const override;

 private:
  TcMgcOptions options_;
  TcMgcParams params_;
};

}  // namespace xclip::models
