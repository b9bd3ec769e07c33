// TC-MGC's four similarity terms (spec §A4), the LSA fusion (§A6) and the SDR regulariser (§A7).
// Every ranked axis is moved last before SR / ISA; each term is multiplied by τ.
#include "xclip/autograd.hpp"
#include "xclip/core/profile.hpp"
#include "xclip/models/heads/tc_mgc_head.hpp"
#include "xclip/ops.hpp"

namespace xclip::models {

namespace {

// VS: (s·W_g)·v̂_tv -> [T, V].
Tensor video_sentence(const TcMgcParams& p, const Tensor& s, const Tensor& video) {
  const Tensor sw = ops::unsqueeze(ops::matmul(s, p.global_mat_weight), 2);  // [T, D, 1]
  return ops::squeeze(ops::matmul(video, sw), 2);                             // [T, V, D]·[T, D, 1]
}

// VW: w_ti·v̂_tv ranked over the words i -> [T, V].
Tensor video_word(const TcMgcOptions& o, const TcMgcParams& p, const Tensor& w, const Tensor& video) {
  const Tensor r = ops::matmul(video, w, false, true);  // [T, V, L]
  return interactive_similarity_aggregation(top_k_sorted(r, o.k), p.attentive_word_logit_weight, o.softmax_lambda);
}

// SF: s_t·f_tiv ranked over the word-conditioned "frames" i, the rest fused -> [T, V].
Tensor sentence_frame(const TcMgcOptions& o, const TcMgcParams& p, const Tensor& s, const Tensor& f) {
  const int64_t T = f.dim(0), L = f.dim(1), V = f.dim(2), D = f.dim(3);
  const Tensor flat = ops::reshape(f, Shape{T, L * V, D});
  const Tensor r = ops::reshape(ops::matmul(flat, ops::unsqueeze(s, 2)), Shape{T, L, V});
  const Tensor ranked = top_k_with_fused_rest(ops::permute(r, {0, 2, 1}), o.k);  // [T, V, k+1]
  return interactive_similarity_aggregation(ranked, p.concat_frame_word_logit_weight, o.softmax_lambda);
}

// FW: M[t,i,v,j] = (w_ti·W_l)·f_tjv; word pruning (top-k over i for every j), frame pruning (top-k
// over j for every rank r), then Bi-ISA on the [k, k] matrix -> [T, V].
Tensor frame_word(const TcMgcOptions& o, const TcMgcParams& p, const Tensor& w, const Tensor& f) {
  const int64_t T = f.dim(0), L = f.dim(1), V = f.dim(2), D = f.dim(3);
  const Tensor wl = ops::matmul(w, p.local_mat_weight);                                 // [T, L_i, D]
  const Tensor m = ops::matmul(wl, ops::reshape(f, Shape{T, L * V, D}), false, true);  // [T, L_i, L_j·V]
  const Tensor by_word = ops::permute(ops::reshape(m, Shape{T, L, L, V}), {0, 3, 2, 1});  // [T, V, L_j, L_i]
  const Tensor word_pruned = top_k_sorted(by_word, o.k);                                 // [T, V, L_j, k_r]
  const Tensor m2 = top_k_sorted(ops::transpose(word_pruned, 2, 3), o.k);                // [T, V, k_r, k_c]
  const double lam = o.softmax_lambda;
  const Tensor g = interactive_similarity_aggregation(ops::transpose(m2, 2, 3), p.attentive_word_mat_weight, lam);
  const Tensor h = interactive_similarity_aggregation(m2, p.attentive_frame_word_mat_weight, lam);
  const Tensor s2f = interactive_similarity_aggregation(g, p.attentive_frame_word_mat_weight2, lam);
  const Tensor v2w = interactive_similarity_aggregation(h, p.attentive_word_mat_weight2, lam);
  return ops::scale(ops::add(s2f, v2w), 0.5);
}

// S = Σ_g softmax_g(z·logit_weight)_g·Z_g, z the stacked terms [T, V, G].
Tensor linear_softmax_aggregation(const TcMgcParams& p, const std::vector<Tensor>& terms) {
  std::vector<Tensor> stacked;
  for (const Tensor& z : terms) stacked.push_back(ops::unsqueeze(z, 2));
  const Tensor z = stacked.size() == 1 ? stacked[0] : ops::concat(stacked, 2);
  const Tensor weights = ops::softmax(ops::matmul(z, p.logit_weight), 2);
  return ops::sum(ops::mul(z, weights), 2);
}

std::vector<Tensor> ordered_terms(const TcMgcOptions& o, const TcMgcTerms& t) {
  std::vector<Tensor> out;
  for (int type : o.interaction_type) {
    const Tensor& z = type == 1 ? t.video_sentence : type == 2 ? t.video_word : type == 3 ? t.sentence_frame
                                                                                          : t.frame_word;
    out.push_back(z);
  }
  return out;
}

}  // namespace

TcMgcTerms tc_mgc_terms(const TcMgcOptions& o, const TcMgcParams& p, const Tensor& tau, const TcMgcInputs& in,
                        const DropoutDraw& dropout) {
  profile::Scope region("similarity");
  const int64_t T = in.words.dim(0), L = in.words.dim(1), D = in.words.dim(2), V = in.temporal.dim(0);
  XCLIP_CHECK(in.sentence.ndim() == 2 && in.sentence.dim(0) == T && in.sentence.dim(1) == D && in.temporal.ndim() == 3 &&
                  in.temporal.dim(2) == D,
              "TC-MGC head: sentence ", in.sentence.str(), ", words ", in.words.str(), " and temporal output ",
              in.temporal.str(), " must be [T, D], [T, L, D], [V, N, D]");
  TcMgcTerms t;
  // The LVA on the raw features (call 0: the sentence queries, call 1: every word position).
  t.video_conditioned = ops::l2_normalize(
      language_video_attention(p, in.sentence, in.temporal, in.video_mask, o.num_mha_heads, o.lva_mask_frames, dropout, 0),
      -1);
  const bool fine = o.has(3) || o.has(4);
  if (fine) {
    const Tensor f = language_video_attention(p, ops::reshape(in.words, Shape{T * L, D}), in.temporal, in.video_mask,
                                              o.num_mha_heads, o.lva_mask_frames, dropout, 1);
    t.frame_conditioned = ops::reshape(ops::l2_normalize(f, -1), Shape{T, L, V, D});
  }
  const Tensor s = ops::l2_normalize(in.sentence, -1);
  const Tensor w = ops::l2_normalize(in.words, -1);
  auto scaled = [&](const char* name, auto&& compute) {
    profile::Scope term(name);
    return ops::mul(tau, compute());
  };
  if (o.has(1)) t.video_sentence = scaled("video_sentence", [&] { return video_sentence(p, s, t.video_conditioned); });
  if (o.has(2)) t.video_word = scaled("video_word", [&] { return video_word(o, p, w, t.video_conditioned); });
  if (o.has(3)) t.sentence_frame = scaled("sentence_frame", [&] { return sentence_frame(o, p, s, t.frame_conditioned); });
  if (o.has(4)) t.frame_word = scaled("frame_word", [&] { return frame_word(o, p, w, t.frame_conditioned); });
  t.fused = linear_softmax_aggregation(p, ordered_terms(o, t));
  return t;
}

Tensor similarity_decorrelation(const TcMgcOptions& o, const TcMgcTerms& terms) {
  const std::vector<Tensor> z = ordered_terms(o, terms);
  const int64_t B = z[0].dim(0), G = int64_t(z.size());
  XCLIP_CHECK(z[0].dim(1) == B, "TC-MGC SDR: the terms must be square [B, B], got ", z[0].str());
  std::vector<int64_t> flat_diagonal;  // t·(B+1): the position of [t, t] in the flattened matrix
  for (int64_t t = 0; t < B; ++t) flat_diagonal.push_back(t * (B + 1));
  const Tensor diagonal_index = Tensor::from_vector(flat_diagonal, Shape{B}).to(z[0].device());
  std::vector<Tensor> diagonals;  // Z_g[t, t] as [B, 1]
  for (const Tensor& term : z)
    diagonals.push_back(ops::unsqueeze(ops::gather(ops::reshape(term, Shape{B * B}), 0, diagonal_index), 1));
  const Tensor d = ops::concat(diagonals, 1);                               // [B, G]
  const Tensor centred = ops::sub(d, ops::mean(d, 1, true));
  const Tensor variance = ops::scale(ops::sum(ops::mul(centred, centred), 1), 1.0 / double(G - 1));  // unbiased
  return ops::scale(ops::mean_all(variance), o.sdr_loss_weight);
}

}  // namespace xclip::models
