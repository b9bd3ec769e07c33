// The TC-MGC head trains: the tiny CLIP with the tc_mgc head (dropout on, SDR on) learns the toy
// retrieval task of train_test_util.hpp to well above chance in a few epochs.
#include <catch2/catch.hpp>

#include "test_util.hpp"
#include "train/train_test_util.hpp"
#include "xclip/models/build.hpp"
#include "xclip/train/evaluate.hpp"

using namespace xclip;
using namespace xclip::train;

TEST_CASE("tc_mgc: a trained tiny model beats chance on the toy task", "[train][tc_mgc]") {
  const auto dir = test::temp_dir("tc_mgc_trained");
  models::HeadConfig head = test::tiny_xclip_config();
  head.head = "tc_mgc";
  head.options = {{"keep_rate", 0.5}, {"transformer_dropout", 0.1}};  // k = 3 of the 6 word positions
  auto model = models::from_scratch(test::tiny_clip_config(), head, 23);
  test::ToySource train_set(48, 8, 8);
  TrainOptions o = test::quiet_train_options(dir, 6);
  o.save_checkpoints = false;
  test::ToySource pairs(8, 8, 8);
  pairs.shuffle = false;
  data::EvalInputs in;
  in.texts = in.videos = &pairs;
  const double before = evaluate(*model, in).t2v.r1;
  const TrainSummary s = Trainer(*model, train_set, o).run();
  CHECK_FALSE(s.stopped_non_finite);
  const double after = evaluate(*model, in).t2v.r1;
  INFO("R@1 before " << before << " after " << after);
  CHECK(after >= 50.0);  // chance is 12.5
}
