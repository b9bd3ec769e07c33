// Queries against stored video sides with the head's own contrasts (search/score.hpp).
#include "xclip/search/score.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "xclip/autograd.hpp"
#include "xclip/core/error.hpp"
#include "xclip/models/heads/clip4clip_head.hpp"
#include "xclip/models/heads/xclip_head.hpp"
#include "xclip/ops.hpp"

namespace xclip::search {
namespace {

const models::XClipHead* xclip_head(const models::RetrievalModel& model) {
  return dynamic_cast<const models::XClipHead*>(&model.head);
}

void check_known_head(const models::RetrievalModel& model) {
  XCLIP_CHECK(xclip_head(model) || dynamic_cast<const models::Clip4ClipHead*>(&model.head),
              "search: the '", model.config().head, "' head is not supported (xclip, clip4clip and ea_clip4clip are)");
  const auto* clip4clip = dynamic_cast<const models::Clip4ClipHead*>(&model.head);
  XCLIP_CHECK(!clip4clip || clip4clip->has_video_feature(), "search: sim_header ", model.config().sim_header,
              " is not supported: its scores come from a cross encoder over every query-video pair, so there is no "
              "video side to index (the loose types meanP, seqTransf and seqLSTM have one)");
}

// Rows [start, start + n) of a contiguous tensor as a view of the same storage: ops::narrow would
// copy them, and a search over 10,000 videos would then copy every frame feature per query.
Tensor row_view(const Tensor& x, int64_t start, int64_t n) {
  if (start == 0 && n == x.dim(0)) return x;
  const size_t row_bytes = x.nbytes() / size_t(std::max<int64_t>(x.dim(0), 1));
  return Tensor::from_storage(x.storage(), x.storage_offset() + size_t(start) * row_bytes, x.shape().with_dim(0, n),
                              x.dtype());
}

models::VideoSide rows_of(const VideoSides& v, int64_t start, int64_t n) {
  return {row_view(v.video, start, n), row_view(v.frames, start, n), row_view(v.mask, start, n)};
}

Tensor join(const std::vector<Tensor>& parts) {
  if (parts.empty() || !parts[0].defined()) return Tensor();
  return parts.size() == 1 ? parts[0] : ops::concat(parts, 1);
}

}  // namespace

VideoSides video_sides(const models::RetrievalModel& model, const models::VideoFeatures& videos) {
  NoGradGuard no_grad;
  check_known_head(model);
  const Tensor mask = videos.video_mask.to(DType::i64);
  if (const auto* xh = xclip_head(model)) {
    const models::VideoSide s = xh->video_side(videos);
    return {s.video.to(Device::cpu).clone(), s.frames.to(Device::cpu).clone(), mask.to(Device::cpu).clone()};
  }
  // CLIP4Clip (and EA-CLIP4Clip): the head's own video feature.
  const Tensor video = dynamic_cast<const models::Clip4ClipHead&>(model.head).video_feature(videos);
  return {video.to(Device::cpu).clone(), ops::l2_normalize(videos.frames, -1).to(Device::cpu).clone(),
          mask.to(Device::cpu).clone()};
}

Scores score(const models::RetrievalModel& model, const models::TextFeatures& texts, const VideoSides& videos,
             int64_t block) {
  NoGradGuard no_grad;
  check_known_head(model);
  XCLIP_CHECK(block >= 1, "search: block must be >= 1");
  const Tensor logit_scale = model.logit_scale().to(Device::cpu);
  const int64_t V = videos.count();
  Scores out;
  if (const auto* xh = xclip_head(model)) {
    const models::TextSide text = models::make_text_side(texts);
    std::vector<Tensor> logits, vs, vw, sf, fw;
    for (int64_t v = 0; v < V; v += block) {
      const models::SimilarityTerms t = models::similarity_terms(model.config(), xh->aosm(), logit_scale, text,
                                                                 rows_of(videos, v, std::min(block, V - v)));
      logits.push_back(t.logits);
      vs.push_back(t.video_sentence);
      vw.push_back(t.video_word);
      sf.push_back(t.sentence_frame);
      fw.push_back(t.frame_word);
    }
    out = {join(logits), join(vs), join(vw), join(sf), join(fw)};
  } else {
    out.logits = models::video_sentence_logits(models::logit_scale_factor(logit_scale),
                                               models::normalized_sentence(texts.sentence), videos.video);
    out.video_sentence = out.logits;
  }
  return out;
}

models::TextFeatures text_row(const models::TextFeatures& t, int64_t q) {
  auto row = [q](const Tensor& x) { return x.defined() ? ops::narrow(x, 0, q, 1) : x; };
  return {row(t.sentence), row(t.words), row(t.attention_mask)};
}

Scores score_shortlist(const models::RetrievalModel& model, const models::TextFeatures& texts,
                       const VideoSides& videos, int64_t shortlist, int64_t block) {
  const auto* xh = xclip_head(model);
  const int64_t V = videos.count(), Q = texts.sentence.dim(0);
  if (shortlist <= 0 || shortlist >= V || !xh) return score(model, texts, videos, block);
  NoGradGuard no_grad;
  const Tensor lambda = models::logit_scale_factor(model.logit_scale().to(Device::cpu));
  const Tensor vs = models::video_sentence_logits(lambda, models::normalized_sentence(texts.sentence), videos.video,
                                                  xh->aosm().global_mat_weight);  // [Q, V]
  Scores out;
  Tensor* parts[] = {&out.logits, &out.video_sentence, &out.video_word, &out.sentence_frame, &out.frame_word};
  for (Tensor* p : parts) *p = Tensor::zeros(Shape{Q, V});
  out.logits.fill_(-INFINITY);
  for (int64_t q = 0; q < Q; ++q) {
    const std::vector<int64_t> rows = ranking(vs.data<float>() + q * V, V, shortlist);
    const Scores s = score(model, text_row(texts, q), select_videos(videos, rows), block);
    const Tensor* from[] = {&s.logits, &s.video_sentence, &s.video_word, &s.sentence_frame, &s.frame_word};
    for (size_t k = 0; k < 5; ++k) {
      if (!from[k]->defined()) {
        *parts[k] = Tensor();  // the head does not compute this contrast
        continue;
      }
      for (size_t j = 0; j < rows.size(); ++j) parts[k]->data<float>()[q * V + rows[j]] = from[k]->data<float>()[j];
    }
  }
  return out;
}

namespace {

// softmax(x / τ) over the entries `idx` of x (stride apart), then mixed by M: w'_j = Σ_i w_i·M[i, j].
std::vector<double> aosm_weights(const std::vector<double>& x, double tau, const Tensor& mix,
                                 const std::vector<bool>& valid) {
  const size_t n = x.size();
  double top = -INFINITY;
  for (size_t i = 0; i < n; ++i)
    if (valid[i]) top = std::max(top, x[i] / tau);
  std::vector<double> w(n, 0.0);
  double sum = 0;
  for (size_t i = 0; i < n; ++i)
    if (valid[i]) sum += (w[i] = std::exp(x[i] / tau - top));
  for (double& v : w) v /= sum;
  if (!mix.defined()) return w;
  const std::vector<double> m = mix.to_vector<double>();
  std::vector<double> mixed(n, 0.0);
  for (size_t j = 0; j < n; ++j)
    for (size_t i = 0; i < n; ++i) mixed[j] += w[i] * m[i * n + j];
  for (size_t j = 0; j < n; ++j)
    if (!valid[j]) mixed[j] = 0;
  return mixed;
}

double term_value(const Tensor& t) { return t.defined() ? t.item_double() : 0.0; }

}  // namespace

MatchDetail explain(const models::RetrievalModel& model, const models::TextFeatures& text, const VideoSides& videos,
                    int64_t row) {
  NoGradGuard no_grad;
  XCLIP_CHECK(text.sentence.dim(0) == 1, "search: explain takes one text, got ", text.sentence.str());
  XCLIP_CHECK(row >= 0 && row < videos.count(), "search: explain: no video row ", row);
  const models::VideoSide r = rows_of(videos, row, 1);
  const VideoSides one = {r.video, r.frames, r.mask};
  const Scores s = score(model, text, one);
  MatchDetail d;
  d.total = term_value(s.logits);
  d.video_sentence = term_value(s.video_sentence);
  d.video_word = term_value(s.video_word);
  d.sentence_frame = term_value(s.sentence_frame);
  d.frame_word = term_value(s.frame_word);

  const models::HeadConfig& c = model.config();
  const models::TextSide ts = models::make_text_side(text);
  const int64_t L = ts.words.dim(1), N = one.frames.dim(1), D = one.frames.dim(2);
  const std::vector<int64_t> tmask = ts.mask.to_vector<int64_t>(), vmask = one.mask.to_vector<int64_t>();
  d.words = std::accumulate(tmask.begin(), tmask.end(), int64_t(0));
  d.frames = std::accumulate(vmask.begin(), vmask.end(), int64_t(0));
  const auto* xh = xclip_head(model);
  models::AosmMatrices aosm = xh ? xh->aosm() : models::AosmMatrices{};
  Tensor words = ops::reshape(ts.words, Shape{L, D});
  if (aosm.local_mat_weight.defined()) words = ops::matmul(words, aosm.local_mat_weight);
  const std::vector<double> cm =
      ops::matmul(words, ops::reshape(one.frames, Shape{N, D}), false, true).to_vector<double>();  // [L, N]
  // Which positions take part in the AOSM softmaxes: all (the official code) or the real ones.
  std::vector<bool> word_ok(static_cast<size_t>(L), true), frame_ok(static_cast<size_t>(N), true);
  if (c.mask_padding) {
    for (int64_t i = 0; i < L; ++i) word_ok[size_t(i)] = tmask[size_t(i)] != 0;
    for (int64_t j = 0; j < N; ++j) frame_ok[size_t(j)] = vmask[size_t(j)] != 0;
  }
  const double tau = c.temperature;
  std::vector<std::vector<double>> per_frame(static_cast<size_t>(N)), per_word(static_cast<size_t>(L));
  for (int64_t j = 0; j < N; ++j) {
    std::vector<double> col(static_cast<size_t>(L));
    for (int64_t i = 0; i < L; ++i) col[size_t(i)] = cm[size_t(i * N + j)];
    per_frame[size_t(j)] = aosm_weights(col, tau, aosm.word_mat_weight, word_ok);
  }
  for (int64_t i = 0; i < L; ++i)
    per_word[size_t(i)] = aosm_weights(std::vector<double>(cm.begin() + i * N, cm.begin() + (i + 1) * N), tau,
                                       aosm.frame_mat_weight, frame_ok);
  // Real words are positions 0..words-1 (SOT .. EOT), real frames 0..frames-1.
  for (int64_t i = 0; i < d.words; ++i)
    for (int64_t j = 0; j < d.frames; ++j) {
      d.word_frame.push_back(float(cm[size_t(i * N + j)]));
      d.word_weight_per_frame.push_back(float(per_frame[size_t(j)][size_t(i)]));
      d.frame_weight_per_word.push_back(float(per_word[size_t(i)][size_t(j)]));
    }
  const std::vector<double> b =
      ops::matmul(ts.sentence, ops::reshape(one.frames, Shape{N, D}), false, true).to_vector<double>();  // [N]
  const std::vector<double> a = ops::matmul(ops::reshape(ts.words, Shape{L, D}), one.video, false, true)
                                    .to_vector<double>();  // [L]
  const std::vector<double> sfw = aosm_weights(b, tau, aosm.frame_logit_weight, frame_ok);
  const std::vector<double> vww = aosm_weights(a, tau, aosm.word_logit_weight, word_ok);
  for (int64_t j = 0; j < d.frames; ++j) d.sentence_frame_weight.push_back(float(sfw[size_t(j)]));
  for (int64_t i = 0; i < d.words; ++i) d.video_word_weight.push_back(float(vww[size_t(i)]));
  return d;
}

std::vector<int64_t> ranking(const float* scores, int64_t n, int64_t top) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t(0));
  const int64_t k = top <= 0 ? n : std::min(top, n);
  auto better = [scores](int64_t a, int64_t b) { return scores[a] > scores[b] || (scores[a] == scores[b] && a < b); };
  std::partial_sort(order.begin(), order.begin() + k, order.end(), better);
  order.resize(size_t(k));
  return order;
}

}  // namespace xclip::search
