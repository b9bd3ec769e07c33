// The data rules of train and eval, through the built xclip-cli on a tiny synthetic dataset:
// a val/test split with a missing or undecodable video is an error listing every one, unless
// --allow_missing_videos (then the table and JSON count what was left out); training leaves such
// videos out, counts them and lists them in OUTPUT_DIR/skipped_videos.txt, which a resumed run keeps.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "test_cli_util.hpp"
#include "test_util.hpp"
#include "xclip/io/json_file.hpp"

using namespace xclip;
namespace fs = std::filesystem;
using test::run_cli;

namespace {

using test::synth_dataset;
const std::string kFlags = test::kTinyModelFlags;

void break_video(const fs::path& file) { std::ofstream(file, std::ios::trunc) << "not a video\n"; }

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("eval: missing and undecodable test videos are one error listing both, or counted when allowed",
          "[cli][data_rules]") {
  const fs::path dir = synth_dataset("cli_rules_eval");
  fs::remove(dir / "data/videos/video13.mp4");
  break_video(dir / "data/videos/video14.mp4");

  const test::CliRun refused = run_cli(dir, "eval" + kFlags + " --eval_json eval.json");
  INFO(refused.out << refused.err);
  CHECK(refused.status == 1);
  CHECK_THAT(refused.err, Catch::Contains("1 missing, 1 undecodable") && Catch::Contains("video13") &&
                              Catch::Contains("video14.mp4") && Catch::Contains("--allow_missing_videos"));
  CHECK_THAT(refused.out, !Catch::Contains("R@1"));  // no metrics of a smaller test set
  CHECK_FALSE(fs::exists(dir / "eval.json"));

  const test::CliRun allowed = run_cli(dir, "eval" + kFlags + " --eval_json eval.json --allow_missing_videos");
  INFO(allowed.out << allowed.err);
  REQUIRE(allowed.status == 0);
  CHECK_THAT(allowed.out, Catch::Contains("2 pairs evaluated") && Catch::Contains("1 missing and 1 undecodable"));
  const nlohmann::json j = io::read_json_file(dir / "eval.json", "eval metrics");
  CHECK(j.at("pairs_evaluated") == 2);
  CHECK(j.at("videos_missing") == 1);
  CHECK(j.at("videos_undecodable") == 1);
  CHECK(j.at("missing_videos").at(0).at("video_id") == "video13");
  CHECK(j.at("undecodable_videos").at(0).at("video_id") == "video14");
  CHECK(j.at("text_to_video").at("R1").is_number());
}

TEST_CASE("eval and train: an output that cannot be written is an error before any work", "[cli][data_rules]") {
  const fs::path dir = test::temp_dir("cli_rules_outputs");
  std::ofstream(dir / "blocked") << "a file, not a folder\n";
  fs::create_directories(dir / "a_folder");
  // No dataset exists at all: the output is refused before the model, the data or the videos.
  const std::string no_data = " --data_path nowhere --features_path nowhere --init random";
  const test::CliRun json = run_cli(dir, "eval" + no_data + " --eval_json blocked/eval.json");
  INFO(json.out << json.err);
  CHECK(json.status == 1);
  CHECK_THAT(json.err, Catch::Contains("metrics JSON") && Catch::Contains("blocked") && !Catch::Contains("nowhere"));

  const test::CliRun sim = run_cli(dir, "eval" + no_data + " --save_sim a_folder");
  INFO(sim.out << sim.err);
  CHECK(sim.status == 1);
  CHECK_THAT(sim.err, Catch::Contains("--save_sim") && Catch::Contains("is a folder"));

  const test::CliRun train = run_cli(dir, "train" + no_data + " --output_dir out --save_sim blocked/sim.npy");
  INFO(train.out << train.err);
  CHECK(train.status == 1);
  CHECK_THAT(train.err, Catch::Contains("--save_sim") && Catch::Contains("blocked") && !Catch::Contains("nowhere"));
  CHECK(fs::is_regular_file(dir / "blocked"));  // nothing already there was touched
  CHECK(std::vector<fs::path>(fs::directory_iterator(dir / "a_folder"), {}).empty());
}

const std::string kTrain = "train" + kFlags + " --output_dir out --batch_size 11 --n_display 0 --epochs 2";

TEST_CASE("train: a missing validation video stops the run before any training", "[cli][data_rules]") {
  const fs::path dir = synth_dataset("cli_rules_train_val");
  fs::remove(dir / "data/videos/video13.mp4");
  const test::CliRun refused = run_cli(dir, kTrain);
  INFO(refused.out << refused.err);
  CHECK(refused.status == 1);
  CHECK_THAT(refused.err, Catch::Contains("val split") && Catch::Contains("video13") &&
                              Catch::Contains("--allow_missing_videos"));
  CHECK_FALSE(fs::exists(dir / "out/checkpoint.0"));
  CHECK_FALSE(fs::exists(dir / "out/train_log.jsonl"));
}

TEST_CASE("train: skipped training videos are counted and listed, a resumed run keeps the list", "[cli][data_rules]") {
  const fs::path dir = synth_dataset("cli_rules_train");
  fs::remove(dir / "data/videos/video3.mp4");
  const fs::path good5 = dir / "video5.keep";
  fs::copy_file(dir / "data/videos/video5.mp4", good5);
  break_video(dir / "data/videos/video5.mp4");
  fs::remove(dir / "data/videos/video13.mp4");  // a missing validation (= test) video, allowed below
  const std::string train = kTrain;

  // Allowed: the undecodable training video's row leaves its batch (an all-zero video would be a
  // NaN loss), and both training videos are listed.
  const test::CliRun first = run_cli(dir, train + " --allow_missing_videos --stop_after_epoch 0");
  INFO(first.out << first.err);
  REQUIRE(first.status == 0);
  CHECK_THAT(first.err, Catch::Contains("video5") && Catch::Contains("left out of training"));
  CHECK(fs::exists(dir / "out/checkpoint.0"));
  const std::string listed = read_text(dir / "out/skipped_videos.txt");
  CHECK_THAT(listed, Catch::Contains("video3\t") && Catch::Contains("video5\tdata/videos/video5.mp4\t"));
  const nlohmann::json eval0 = io::read_json_file(dir / "out/eval.0.json", "eval");
  CHECK(eval0.at("videos_missing") == 1);

  // The file is repaired before the resume: the resumed run no longer meets it, the list keeps it.
  fs::copy_file(good5, dir / "data/videos/video5.mp4", fs::copy_options::overwrite_existing);
  const test::CliRun resumed = run_cli(dir, train + " --allow_missing_videos --resume_model out");
  INFO(resumed.out << resumed.err);
  REQUIRE(resumed.status == 0);
  CHECK_THAT(resumed.err, !Catch::Contains("left out of training:"));
  CHECK_THAT(read_text(dir / "out/skipped_videos.txt"), Catch::Contains("video3\t") && Catch::Contains("video5\t"));
}
