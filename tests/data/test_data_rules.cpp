// The data rules' pieces: the training run's list of skipped videos (atomic, kept across a resume),
// the kinds of problem a dataset reading reports, and leaving videos and their texts out of an
// evaluation's similarity.
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "test_util.hpp"
#include "xclip/core/error.hpp"
#include "xclip/data/dataset_readers.hpp"
#include "xclip/data/skipped_videos.hpp"
#include "xclip/train/evaluate.hpp"

using namespace xclip;
using data::VideoProblem;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("skipped videos: one line per video, written at once, kept by a resumed run", "[data_rules]") {
  const fs::path dir = test::temp_dir("skipped_videos");
  const fs::path file = dir / "out" / "skipped_videos.txt";
  {
    data::SkippedVideoLog log(file);
    CHECK(log.size() == 0);
    CHECK(log.add({{"video1", "/v/video1.mp4", "no file video1.mp4 under /v", VideoProblem::Kind::missing},
                   {"video2", "/v/video2.mp4", "cannot open\tas a video\n(bad data)"}}) == 2);
    // Already listed: nothing new, the file is not rewritten.
    CHECK(log.add({{"video1", "/v/video1.mp4", "another reason"}}) == 0);
    CHECK(log.size() == 2);
  }
  const std::string text = read_text(file);
  CHECK(text == "# video_id\tfile\treason\n"
                "video1\t/v/video1.mp4\tno file video1.mp4 under /v\n"
                "video2\t/v/video2.mp4\tcannot open as a video (bad data)\n");
  // No temporary file is left beside it.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir / "out")) files += e.is_regular_file() ? 1 : 0;
  CHECK(files == 1);

  // A resumed run starts from the earlier entries and adds what it finds.
  data::SkippedVideoLog resumed(file);
  CHECK(resumed.size() == 2);
  CHECK(resumed.add({{"video3", "/v/video3.mp4", "no video frame could be decoded"}}) == 1);
  const std::vector<VideoProblem> back = data::read_skipped_videos(file);
  REQUIRE(back.size() == 3);
  CHECK(back[0].video_id == "video1");
  CHECK(back[2].reason == "no video frame could be decoded");

  std::ofstream(dir / "bad.txt") << "# video_id\tfile\treason\nvideo1 only one field\n";
  CHECK_THROWS_WITH(data::read_skipped_videos(dir / "bad.txt"), Catch::Contains("bad.txt:2") &&
                                                                   Catch::Contains("three tab-separated fields"));
  CHECK(data::read_skipped_videos(dir / "absent.txt").empty());
}

TEST_CASE("dataset reading: each skipped video says what is wrong and names the file it found", "[data_rules]") {
  const fs::path dir = test::temp_dir("problem_kinds");
  fs::create_directories(dir / "v");
  std::ofstream(dir / "v/empty.mp4").close();
  std::ofstream(dir / "v/fine.mp4") << "bytes";
  fs::create_symlink(dir / "v/nowhere.mp4", dir / "v/broken.mp4");
  fs::create_directories(dir / "v/folder.mp4");
  data::detail::VideoIndex index(dir / "v");
  CHECK(index.find("fine").problem.empty());
  CHECK(index.find("zzz").kind == VideoProblem::Kind::missing);
  CHECK(index.find("broken").kind == VideoProblem::Kind::missing);
  const auto empty = index.find("empty");
  CHECK(empty.kind == VideoProblem::Kind::empty);
  CHECK(empty.path == dir / "v/empty.mp4");
  CHECK(std::string(data::video_problem_kind_name(VideoProblem::Kind::partial)) == "partly corrupt");
}

TEST_CASE("evaluation: videos left out take their texts with them", "[data_rules]") {
  // Pairs: text i goes with video i.
  Tensor sim = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, Shape{4, 4});
  std::vector<int64_t> none;
  train::drop_videos(sim, false, none, {1, 3});
  CHECK(sim.shape() == Shape{2, 2});
  CHECK(sim.to_vector<float>() == std::vector<float>{0, 2, 8, 10});
  // Multi-sentence: captions 0, 1 of video 0, caption 2 of video 1, captions 3, 4 of video 2.
  Tensor multi = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, Shape{5, 3});
  std::vector<int64_t> caption_video = {0, 0, 1, 2, 2};
  train::drop_videos(multi, true, caption_video, {1});
  CHECK(multi.shape() == Shape{4, 2});
  CHECK(multi.to_vector<float>() == std::vector<float>{0, 2, 3, 5, 9, 11, 12, 14});
  CHECK(caption_video == std::vector<int64_t>{0, 0, 1, 1});
  CHECK_THROWS_WITH(train::drop_videos(multi, true, caption_video, {2}), Catch::Contains("bad or repeated video"));

  // The metrics then cover the pairs that remain, and the JSON says what was left out.
  train::EvalResult r = train::metrics_of(sim, false, {});
  r.missing_videos = {{"video1", "/v", "no file"}};
  r.undecodable_videos = {{"video3", "/v/video3.mp4", "cannot open"}};
  const nlohmann::json j = r.to_json();
  CHECK(j.at("pairs_evaluated") == 2);
  CHECK(j.at("videos_missing") == 1);
  CHECK(j.at("videos_undecodable") == 1);
  CHECK(j.at("undecodable_videos").at(0).at("video_id") == "video3");
  CHECK_THAT(r.table("t"), Catch::Contains("2 pairs evaluated") && Catch::Contains("1 missing and 1 undecodable"));
  CHECK_THAT(train::metrics_of(sim, false, {}).table("t"), !Catch::Contains("pairs evaluated"));
}
