// Evaluation as eval_epoch: the similarity of batched encoding + block-wise heads equals the
// model's own similarity_for_eval; metrics as metrics.py (single- and multi-sentence).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "ops/grad_util.hpp"
#include "test_util.hpp"
#include "train/train_test_util.hpp"
#include "xclip/ops.hpp"
#include "xclip/train/evaluate.hpp"

using namespace xclip;
using namespace xclip::train;
using xclip::test::max_abs_diff;

namespace {
// All batches of a source concatenated (the reference input of similarity_for_eval).
data::Batch whole(test::ToySource& s) {
  s.start_epoch(0);
  std::vector<Tensor> ids, mask, video, vmask;
  while (auto b = s.next()) {
    ids.push_back(b->input_ids);
    mask.push_back(b->attention_mask);
    video.push_back(b->video);
    vmask.push_back(b->video_mask);
  }
  data::Batch all;
  all.input_ids = ops::concat(ids, 0);
  all.attention_mask = ops::concat(mask, 0);
  all.video = ops::concat(video, 0);
  all.video_mask = ops::concat(vmask, 0);
  return all;
}

}  // namespace

TEST_CASE("evaluate: pairs give similarity_for_eval's matrix and metrics.py's numbers", "[train][evaluate]") {
  for (const char* head : {"seqTransf", "meanP"}) {
    INFO(head);
    auto model = test::tiny_model(21, head);
    test::ToySource pairs(13, 4, 13);  // 4 batches, the last partial; 13 distinct classes
    pairs.shuffle = false;
    pairs.drop_last = false;
    data::EvalInputs in;
    in.texts = in.videos = &pairs;
    const EvalResult r = evaluate(*model, in);
    REQUIRE(r.sim.shape() == Shape{13, 13});
    const data::Batch all = whole(pairs);
    const Tensor ref = model->similarity_for_eval(all.input_ids, all.attention_mask, all.video, all.video_mask);
    CHECK(max_abs_diff(r.sim, ref) < 1e-5);
    const RetrievalMetrics t2v = compute_metrics(r.sim);
    CHECK(r.t2v.r1 == t2v.r1);
    CHECK(r.t2v.mean_rank == t2v.mean_rank);
    CHECK(r.v2t.r1 == compute_metrics(ops::transpose(r.sim, 0, 1)).r1);
    CHECK(r.t2v.count == 13);
  }
}

TEST_CASE("evaluate: separate text and video sources, multi-sentence grouping", "[train][evaluate]") {
  auto model = test::tiny_model(22);
  // 12 captions of 4 videos: texts of sample i describe class i % 4 (3 per video); videos 0..3.
  test::ToySource texts(12, 5, 4), videos(4, 3, 4);
  texts.shuffle = videos.shuffle = false;
  texts.drop_last = videos.drop_last = false;
  data::EvalInputs in;
  in.texts = &texts;
  in.videos = &videos;
  in.multi_sentence = true;
  for (int64_t i = 0; i < 12; ++i) in.caption_video.push_back(i % 4);
  const EvalResult r = evaluate(*model, in);
  REQUIRE(r.sim.shape() == Shape{12, 4});
  const Tensor grouped = group_by_video(r.sim, in.caption_video);
  CHECK(r.t2v.r1 == text_to_video_multi(grouped).r1);
  CHECK(r.t2v.count == 12);
  CHECK(r.v2t.count == 4);
  CHECK(r.multi_sentence);
  const std::string table = r.table("title");
  CHECK_THAT(table, Catch::Contains("text-to-video") && Catch::Contains("video-to-text"));
  CHECK(r.to_json().at("texts") == 12);
}

TEST_CASE("evaluate: a trained model beats chance on the toy task", "[train][evaluate]") {
  const auto dir = test::temp_dir("evaluate_trained");
  auto model = test::tiny_model(23);
  test::ToySource train_set(48, 8, 8);
  TrainOptions o;
  o.output_dir = dir;
  o.epochs = 6;
  o.lr = 3e-3;
  o.coef_lr = 1.0;
  o.n_display = 0;
  o.save_checkpoints = false;
  o.print = [](const std::string&) {};
  test::ToySource pairs(8, 8, 8);
  pairs.shuffle = false;
  data::EvalInputs in;
  in.texts = in.videos = &pairs;
  const double before = evaluate(*model, in).t2v.r1;
  Trainer(*model, train_set, o).run();
  const double after = evaluate(*model, in).t2v.r1;
  INFO("R@1 before " << before << " after " << after);
  CHECK(after >= 50.0);  // chance is 12.5
}
