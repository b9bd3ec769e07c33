// The TC-MGC head trains: the tiny CLIP with the tc_mgc head (dropout on, SDR on) learns the toy
// retrieval task of train_test_util.hpp to well above chance in a few epochs; its dropout masks
// come from the trainer's seed and micro-step, so a resumed run is the same run.
#include <catch2/catch.hpp>

#include "test_util.hpp"
#include "train/train_test_util.hpp"
#include "xclip/models/build.hpp"
#include "xclip/train/evaluate.hpp"
#include "xclip/train/train_log.hpp"

using namespace xclip;
using namespace xclip::train;

TEST_CASE("tc_mgc: a trained tiny model beats chance on the toy task", "[train][tc_mgc]") {
  const auto dir = test::temp_dir("tc_mgc_trained");
  models::HeadConfig head = test::tiny_xclip_config();
  head.head = "tc_mgc";
  head.options = {{"keep_rate", 0.5}, {"transformer_dropout", 0.1}};  // k = 3 of the 6 word positions
  auto model = models::from_scratch(test::tiny_clip_config(), head, 23);
  const test::ToyTraining r = test::train_on_toy_task(*model, dir, 6);
  CHECK_FALSE(r.stopped_non_finite);
  INFO("R@1 before " << r.r1_before << " after " << r.r1_after);
  CHECK(r.r1_after >= 50.0);  // chance is 12.5
}

namespace {
std::unique_ptr<models::RetrievalModel> tiny_tc_mgc(uint64_t seed, double dropout) {
  models::HeadConfig head = test::tiny_xclip_config();
  head.head = "tc_mgc";
  head.options = {{"keep_rate", 0.5}, {"transformer_dropout", dropout}};
  return models::from_scratch(test::tiny_clip_config(), head, seed);
}

std::vector<double> losses_of(const std::filesystem::path& dir) { return step_losses(read_train_log(dir / "train_log.jsonl")); }
}  // namespace

TEST_CASE("tc_mgc: dropout masks follow the trainer's seed, and a resumed run redraws them", "[train][tc_mgc][resume]") {
  const auto one = test::temp_dir("tc_mgc_one_go"), two = test::temp_dir("tc_mgc_resumed"),
             other_seed = test::temp_dir("tc_mgc_other_seed");
  auto train = [](const std::filesystem::path& dir, uint64_t seed, int64_t stop_after, bool resume) {
    auto model = tiny_tc_mgc(resume ? 999 : 11, 0.3);  // a resumed model takes every weight from the checkpoint
    test::ToySource source(24, 6, 6, /*seed=*/3);     // the batch order does not depend on the trainer's seed
    TrainOptions o = test::quiet_train_options(dir, 2);
    o.seed = seed;
    o.stop_after_epoch = stop_after;
    Trainer trainer(*model, source, o);
    if (resume) trainer.resume(dir);
    trainer.run();
  };
  train(one, 42, -1, false);
  train(two, 42, 0, false);
  train(two, 42, -1, true);
  const std::vector<double> a = losses_of(one), b = losses_of(two);
  REQUIRE(a.size() == 8);
  CHECK(a == b);  // exactly: the second epoch's masks are redrawn from (seed, micro-step)
  train(other_seed, 43, 0, false);
  const std::vector<double> c = losses_of(other_seed);
  REQUIRE(c.size() == 4);
  CHECK(c[0] != a[0]);  // the same batches and weights: only the dropout masks differ
}
