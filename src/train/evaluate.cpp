// Retrieval evaluation (main_xclip.py eval_epoch); see evaluate.hpp.
#include "xclip/train/evaluate.hpp"

#include <chrono>
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "xclip/autograd.hpp"
#include "xclip/ops.hpp"

namespace xclip::train {

namespace {
double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Tensor concat_or_one(const std::vector<Tensor>& parts) { return parts.size() == 1 ? parts[0] : ops::concat(parts, 0); }

struct Encoded {
  std::vector<Tensor> sentences, words, text_masks, frames, video_masks;
};

void encode_texts(const models::RetrievalModel& model, const data::Batch& batch, Encoded& e) {
  XCLIP_CHECK(batch.input_ids.defined() && batch.attention_mask.defined(), "evaluate: a text batch without input_ids");
  data::Batch b;
  b.input_ids = batch.input_ids;
  b.attention_mask = batch.attention_mask;
  b = data::to_device(std::move(b), model.device());
  models::TextFeatures t = model.encode_text(b.input_ids, b.attention_mask);
  e.sentences.push_back(t.sentence);
  e.words.push_back(t.words);
  e.text_masks.push_back(b.attention_mask);
}

void encode_videos(const models::RetrievalModel& model, const data::Batch& batch, Encoded& e) {
  XCLIP_CHECK(batch.video.defined() && batch.video_mask.defined(), "evaluate: a video batch without video");
  data::Batch b;
  b.video = batch.video;
  b.video_mask = batch.video_mask;
  b = data::to_device(std::move(b), model.device());
  models::VideoFeatures v = model.encode_video(b.video, b.video_mask);
  e.frames.push_back(v.frames);
  e.video_masks.push_back(b.video_mask);
}

// Reads every batch of `source` (epoch 0: evaluation sources are not shuffled).
void encode_all(data::BatchSource& source, const std::function<void(const data::Batch&)>& use,
                const std::function<void(const std::string&)>& progress, const char* what) {
  source.start_epoch(0);
  int64_t n = 0;
  const int64_t total = source.batches_per_epoch();
  while (std::optional<data::Batch> b = source.next()) {
    use(*b);
    if (progress) progress(format("evaluate: ", what, " batch ", ++n, "/", total));
  }
}

Tensor transposed(const Tensor& sim) {
  NoGradGuard no_grad;
  return ops::transpose(sim, 0, 1);
}

nlohmann::json metrics_object(const RetrievalMetrics& m) { return nlohmann::json::parse(metrics_json(m)); }
}  // namespace

EvalResult metrics_of(Tensor sim, bool multi_sentence, std::vector<int64_t> caption_video) {
  XCLIP_CHECK(sim.ndim() == 2, "evaluate: the similarity must be 2-d, got ", sim.str());
  EvalResult r;
  r.multi_sentence = multi_sentence;
  if (multi_sentence) {
    XCLIP_CHECK(int64_t(caption_video.size()) == sim.dim(0), "evaluate: ", caption_video.size(),
                " caption-to-video entries for ", sim.dim(0), " texts");
    const Tensor grouped = group_by_video(sim, caption_video);
    r.t2v = text_to_video_multi(grouped);
    r.v2t = video_to_text_multi(grouped);
  } else {
    XCLIP_CHECK(sim.dim(0) == sim.dim(1), "evaluate: a single-sentence set needs as many texts as videos, got ",
                sim.str());
    r.t2v = compute_metrics(sim);
    r.v2t = compute_metrics(transposed(sim));
  }
  r.sim = std::move(sim);
  r.caption_video = std::move(caption_video);
  return r;
}

void drop_videos(Tensor& sim, bool multi_sentence, std::vector<int64_t>& caption_video,
                 const std::vector<int64_t>& videos) {
  if (videos.empty()) return;
  XCLIP_CHECK(sim.ndim() == 2 && sim.device() == Device::cpu && sim.dtype() == DType::f32,
              "drop_videos: expected a CPU f32 matrix, got ", sim.str());
  const int64_t rows = sim.dim(0), cols = sim.dim(1);
  std::vector<bool> drop_col(size_t(cols), false);
  for (int64_t v : videos) {
    XCLIP_CHECK(v >= 0 && v < cols && !drop_col[size_t(v)], "drop_videos: bad or repeated video ", v, " of ", cols);
    drop_col[size_t(v)] = true;
  }
  // A row goes with its video: the same index (pairs) or its caption_video entry (multi-sentence).
  auto row_video = [&](int64_t r) { return multi_sentence ? caption_video[size_t(r)] : r; };
  std::vector<int64_t> keep_rows, keep_cols, new_index(size_t(cols), -1);
  for (int64_t c = 0; c < cols; ++c)
    if (!drop_col[size_t(c)]) new_index[size_t(c)] = int64_t(keep_cols.size()), keep_cols.push_back(c);
  for (int64_t r = 0; r < rows; ++r)
    if (!drop_col[size_t(row_video(r))]) keep_rows.push_back(r);
  Tensor out = Tensor::empty(Shape{int64_t(keep_rows.size()), int64_t(keep_cols.size())}, DType::f32);
  const float* in = sim.data<float>();
  float* o = out.data<float>();
  for (size_t i = 0; i < keep_rows.size(); ++i)
    for (size_t j = 0; j < keep_cols.size(); ++j)
      o[i * keep_cols.size() + j] = in[size_t(keep_rows[i]) * size_t(cols) + size_t(keep_cols[j])];
  if (multi_sentence) {
    std::vector<int64_t> renumbered;
    for (int64_t r : keep_rows) renumbered.push_back(new_index[size_t(caption_video[size_t(r)])]);
    caption_video = std::move(renumbered);
  }
  sim = std::move(out);
}

EvalResult evaluate(const models::RetrievalModel& model, const data::EvalInputs& inputs,
                    const std::function<void(const std::string&)>& progress, const AfterEncoding& after_encoding) {
  XCLIP_CHECK(inputs.texts && inputs.videos, "evaluate: texts and videos sources are required");
  NoGradGuard no_grad;
  const double t0 = now_seconds();
  Encoded e;
  if (inputs.texts == inputs.videos) {
    auto both = [&](const data::Batch& b) {
      encode_texts(model, b, e);
      encode_videos(model, b, e);
    };
    encode_all(*inputs.texts, both, progress, "pairs");
  } else {
    encode_all(*inputs.texts, [&](const data::Batch& b) { encode_texts(model, b, e); }, progress, "texts");
    encode_all(*inputs.videos, [&](const data::Batch& b) { encode_videos(model, b, e); }, progress, "videos");
  }
  XCLIP_CHECK(!e.sentences.empty() && !e.frames.empty(), "evaluate: no texts or no videos to evaluate");
  const std::vector<int64_t> left_out = after_encoding ? after_encoding() : std::vector<int64_t>{};
  const double t1 = now_seconds();
  models::TextFeatures texts{concat_or_one(e.sentences), concat_or_one(e.words), concat_or_one(e.text_masks)};
  models::VideoFeatures videos{concat_or_one(e.frames), concat_or_one(e.video_masks)};
  Tensor sim = model.head.similarity_matrix(texts, videos, model.logit_scale());
  if (sim.device() != Device::cpu) sim = sim.to(Device::cpu);  // the metrics run on the CPU
  if (sim.dtype() != DType::f32) sim = sim.to(DType::f32);
  std::vector<int64_t> caption_video = inputs.caption_video;
  drop_videos(sim, inputs.multi_sentence, caption_video, left_out);
  XCLIP_CHECK(sim.dim(0) > 0 && sim.dim(1) > 0, "evaluate: no pair is left to evaluate (", left_out.size(),
              " videos left out)");
  EvalResult r = metrics_of(sim, inputs.multi_sentence, std::move(caption_video));
  r.encode_seconds = t1 - t0;
  r.similarity_seconds = now_seconds() - t1;
  return r;
}

std::string EvalResult::table(const std::string& title) const {
  std::ostringstream os;
  if (!title.empty()) os << title << "\n";
  os << format_metrics_row("text-to-video", t2v) << "\n" << format_metrics_row("video-to-text", v2t) << "\n";
  if (!missing_videos.empty() || !undecodable_videos.empty())
    os << pairs() << " pairs evaluated; left out: " << missing_videos.size() << " missing and "
       << undecodable_videos.size() << " undecodable video(s) with their pairs (--allow_missing_videos)\n";
  return os.str();
}

namespace {
nlohmann::json problems_json(const std::vector<data::VideoProblem>& problems) {
  nlohmann::json list = nlohmann::json::array();
  for (const data::VideoProblem& p : problems)
    list.push_back({{"video_id", p.video_id}, {"file", p.file}, {"reason", p.reason}});
  return list;
}
}  // namespace

nlohmann::json EvalResult::to_json() const {
  nlohmann::json j = {{"text_to_video", metrics_object(t2v)},
                      {"video_to_text", metrics_object(v2t)},
                      {"texts", sim.defined() ? sim.dim(0) : 0},
                      {"videos", sim.defined() ? sim.dim(1) : 0},
                      {"pairs_evaluated", pairs()},
                      {"videos_missing", missing_videos.size()},
                      {"videos_undecodable", undecodable_videos.size()},
                      {"missing_videos", problems_json(missing_videos)},
                      {"undecodable_videos", problems_json(undecodable_videos)},
                      {"multi_sentence", multi_sentence},
                      {"encode_seconds", encode_seconds},
                      {"similarity_seconds", similarity_seconds}};
  return j;
}

std::string comparison_table(const std::vector<std::pair<std::string, EvalResult>>& results) {
  size_t width = 5;
  for (const auto& [name, r] : results) width = std::max(width, name.size());
  std::ostringstream os;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-*s  %-13s %7s %7s %7s %6s %8s\n", int(width), "model", "direction", "R@1", "R@5",
                "R@10", "MdR", "MnR");
  os << buf;
  for (const auto& [name, r] : results)
    for (const auto& [dir, m] : {std::pair{"text-to-video", &r.t2v}, std::pair{"video-to-text", &r.v2t}}) {
      std::snprintf(buf, sizeof buf, "%-*s  %-13s %7.1f %7.1f %7.1f %6.1f %8.1f\n", int(width), name.c_str(), dir,
                    m->r1, m->r5, m->r10, m->median_rank, m->mean_rank);
      os << buf;
    }
  return os.str();
}

}  // namespace xclip::train
