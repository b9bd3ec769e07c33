// The X-CLIP contrasts: the normalised sides, the four terms with AOSM, aosm_pool.
// Formulas in xclip_head.hpp; the frame-word term's paths in frame_word_chunked.cpp.
#include "xclip/autograd.hpp"
#include "xclip/core/profile.hpp"
#include "xclip/models/heads/xclip_head.hpp"
#include "xclip/ops.hpp"

namespace xclip::models {

const std::vector<const char*>& AosmMatrices::names() {
  static const std::vector<const char*> n = {"global_mat_weight", "word_logit_weight", "frame_logit_weight",
                                             "local_mat_weight",  "frame_mat_weight",  "word_mat_weight",
                                             "frame_mat_weight2", "word_mat_weight2"};
  return n;
}

std::vector<Tensor*> AosmMatrices::all() {
  return {&global_mat_weight, &word_logit_weight, &frame_logit_weight, &local_mat_weight,
          &frame_mat_weight,  &word_mat_weight,   &frame_mat_weight2,  &word_mat_weight2};
}

AosmMatrices AosmMatrices::identity(int64_t D, int64_t L, int64_t N, DType dtype) {
  return {Tensor::eye(D, dtype), Tensor::eye(L, dtype), Tensor::eye(N, dtype), Tensor::eye(D, dtype),
          Tensor::eye(N, dtype), Tensor::eye(L, dtype), Tensor::eye(N, dtype), Tensor::eye(L, dtype)};
}

TextSide make_text_side(const TextFeatures& texts) {
  const Tensor sentence = normalized_sentence(texts.sentence);
  const Tensor& words = texts.words;
  const Tensor& attention_mask = texts.attention_mask;
  XCLIP_CHECK(words.ndim() == 3 && words.dim(0) == sentence.dim(0) && words.dim(2) == sentence.dim(1),
              "X-CLIP head: words ", words.str(), " do not match sentence ", sentence.str());
  XCLIP_CHECK(attention_mask.ndim() == 2 && attention_mask.dim(0) == words.dim(0) &&
                  attention_mask.dim(1) == words.dim(1),
              "X-CLIP head: attention_mask ", attention_mask.str(), " does not match words ", words.str());
  // Plain L2 norms with no epsilon, as x / x.norm(dim=-1, keepdim=True) in the original.
  return {sentence, ops::l2_normalize(words, -1), attention_mask};
}

VideoSide make_video_side(const HeadConfig& config, const Tensor& frames, const Tensor& temporal,
                          const Tensor& video_mask) {
  XCLIP_CHECK(frames.ndim() == 3 && temporal.shape() == frames.shape(), "X-CLIP head: frames ", frames.str(),
              " and temporal output ", temporal.str(), " must both be [V, N, D]");
  const Tensor video = mean_video_feature(temporal, video_mask);
  const Tensor& frame_source = config.use_original_clip_for_frame_features ? frames : temporal;
  return {video, ops::l2_normalize(frame_source, -1), video_mask};
}

namespace detail {

Tensor mask_as(const Tensor& mask, DType dtype, const Shape& shape) {
  NoGradGuard no_grad;
  return mask.to(dtype).view(shape);
}

// Mixes softmax weights along `axis` by M: w'_j = Σ_i w_i·M[i, j] (the original's "w · M").
Tensor mix_along(const Tensor& w, int axis, const Tensor& mix) {
  const int nd = w.ndim();
  axis = w.shape().normalize_axis(axis);
  if (axis == nd - 1) return ops::matmul(w, mix);
  std::vector<int> to_last, back(size_t(nd), 0);
  for (int i = 0; i < nd; ++i)
    if (i != axis) to_last.push_back(i);
  to_last.push_back(axis);
  for (int i = 0; i < nd; ++i) back[size_t(to_last[size_t(i)])] = i;
  return ops::permute(ops::matmul(ops::permute(w, to_last), mix), back);
}

}  // namespace detail

Tensor aosm_pool(const Tensor& x, int axis, Pool pool, double temperature, const Tensor& mix, const Tensor& mask) {
  axis = x.shape().normalize_axis(axis, "aosm_pool axis");
  XCLIP_CHECK(!mix.defined() || (mix.ndim() == 2 && mix.dim(0) == x.dim(axis) && mix.dim(1) == x.dim(axis)),
              "aosm_pool: mixing matrix ", mix.str(), " for an axis of ", x.dim(axis), " in ", x.str());
  XCLIP_CHECK(!mask.defined() || (mask.ndim() == x.ndim() && mask.dim(axis) == x.dim(axis)), "aosm_pool: mask ",
              mask.str(), " must match ", x.str(), " along axis ", axis);
  // Padded positions: −1e6 added to the logits (exp underflows to exactly 0 at any τ ≤ 1).
  Tensor additive;
  if (mask.defined()) {
    NoGradGuard no_grad;
    additive = ops::scale(ops::add_scalar(mask, -1.0), 1e6);
  }
  switch (pool) {
    case Pool::max:
      return ops::max(additive.defined() ? ops::add(x, additive) : x, axis);
    case Pool::mean: {
      if (!mask.defined()) return ops::mean(x, axis);
      Tensor count;
      {
        NoGradGuard no_grad;
        count = ops::sum(mask, axis);
        // max(count, 1): an all-padding slice averages to 0 instead of dividing by zero.
        auto v = count.to_vector<double>();
        for (double& c : v) c = c < 1 ? 1 : c;
        count = Tensor::from_vector<double>(v, count.shape()).to(x.dtype()).to(x.device());
      }
      return ops::div(ops::sum(ops::mul(x, mask), axis), count);
    }
    case Pool::attention: {
      Tensor w = ops::softmax(x, axis, temperature, additive);
      if (mix.defined()) w = detail::mix_along(w, axis, mix);
      // A mixing matrix could move weight back onto padded positions: zero them again.
      if (mask.defined() && mix.defined()) w = ops::mul(w, mask);
      return ops::sum(ops::mul(x, w), axis);
    }
  }
  throw Error("aosm_pool: unknown pooling");
}

namespace {

Tensor video_word(const HeadConfig& c, const AosmMatrices& aosm, const TextSide& text, const VideoSide& video) {
  const int64_t T = text.words.dim(0), L = text.words.dim(1);
  Tensor a = ops::matmul(text.words, video.video, false, true);  // [T, L, V]
  Tensor mask = c.mask_padding ? detail::mask_as(text.mask, a.dtype(), Shape{T, L, 1}) : Tensor();
  return aosm_pool(a, 1, c.aggregation.second, c.temperature, aosm.word_logit_weight, mask);
}

Tensor sentence_frame(const HeadConfig& c, const AosmMatrices& aosm, const TextSide& text, const VideoSide& video) {
  const int64_t T = text.sentence.dim(0), V = video.frames.dim(0), N = video.frames.dim(1), D = video.frames.dim(2);
  Tensor flat = ops::reshape(video.frames, Shape{V * N, D});
  Tensor b = ops::reshape(ops::matmul(text.sentence, flat, false, true), Shape{T, V, N});
  Tensor mask = c.mask_padding ? detail::mask_as(video.mask, b.dtype(), Shape{1, V, N}) : Tensor();
  return aosm_pool(b, 2, c.aggregation.second, c.temperature, aosm.frame_logit_weight, mask);
}

void check_sides(const HeadConfig& c, const AosmMatrices& aosm, const TextSide& text, const VideoSide& video) {
  XCLIP_CHECK(text.sentence.defined() && video.video.defined(), "X-CLIP head: empty text or video side");
  const int64_t D = text.sentence.dim(1);
  XCLIP_CHECK(video.video.ndim() == 2 && video.video.dim(1) == D && video.frames.ndim() == 3 &&
                  video.frames.dim(2) == D && video.frames.dim(0) == video.video.dim(0),
              "X-CLIP head: video side ", video.video.str(), " / ", video.frames.str(), " for text width ", D);
  XCLIP_CHECK(text.words.dim(1) == c.max_words, "X-CLIP head: ", text.words.dim(1), " word positions but max_words ",
              c.max_words);
  XCLIP_CHECK(video.frames.dim(1) == c.max_frames, "X-CLIP head: ", video.frames.dim(1),
              " frames but max_frames ", c.max_frames);
  XCLIP_CHECK(aosm.defined() == c.learnable_aosm, "X-CLIP head: learnable_aosm is ",
              c.learnable_aosm ? "on" : "off", " but the matrices are ", aosm.defined() ? "given" : "absent");
  if (aosm.defined()) {
    const Shape dd{D, D};
    const bool ok = aosm.global_mat_weight.shape() == dd && aosm.local_mat_weight.shape() == dd;
    XCLIP_CHECK(ok, "X-CLIP head: global/local_mat_weight must be ", dd.str(), ", got ", aosm.global_mat_weight.str(),
                " / ", aosm.local_mat_weight.str());
  }
}

}  // namespace

SimilarityTerms similarity_terms(const HeadConfig& c, const AosmMatrices& aosm, const Tensor& logit_scale,
                                 const TextSide& text, const VideoSide& video) {
  check_sides(c, aosm, text, video);
  profile::Scope region("similarity");  // one region per contrast inside
  const Tensor lambda = logit_scale_factor(logit_scale);
  SimilarityTerms out;
  std::vector<Tensor> enabled;
  // The contrast is computed inside the lambda, so its region covers it and its scaling by λ.
  auto add_term = [&](const char* name, Tensor& slot, const auto& unscaled) {
    profile::Scope term(name);
    slot = ops::mul(lambda, unscaled());
    enabled.push_back(slot);
  };
  if (c.contrasts.video_sentence) {  // shared with CLIP4Clip: λ · (t · global_mat_weight) · vᵀ
    out.video_sentence = video_sentence_logits(lambda, text.sentence, video.video, aosm.global_mat_weight);
    enabled.push_back(out.video_sentence);
  }
  if (c.contrasts.video_word) add_term("video_word", out.video_word, [&] { return video_word(c, aosm, text, video); });
  if (c.contrasts.sentence_frame)
    add_term("sentence_frame", out.sentence_frame, [&] { return sentence_frame(c, aosm, text, video); });
  if (c.contrasts.frame_word)
    add_term("frame_word", out.frame_word, [&] { return frame_word_similarity(c, aosm, text, video); });
  Tensor total = enabled[0];
  for (size_t i = 1; i < enabled.size(); ++i) total = ops::add(total, enabled[i]);
  out.logits = enabled.size() == 1 ? total : ops::scale(total, 1.0 / double(enabled.size()));
  return out;
}

}  // namespace xclip::models
