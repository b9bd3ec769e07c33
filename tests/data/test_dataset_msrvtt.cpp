// MSR-VTT reader on a tiny dataset in the original layout: training with and without
// expand_msrvtt_sentences, the 1k-A test csv, video lookup by extension, missing videos, strict
// mode and malformed files. The reader only looks the videos up (decoding is the loader's job),
// so placeholder files stand in for videos here, plus zoo files for the extension lookup.
#include <catch2/catch.hpp>
#include <fstream>

#include "test_util.hpp"
#include "xclip/core/error.hpp"
#include "xclip/data/dataset_readers.hpp"

using namespace xclip;
using namespace xclip::data;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// Annotations for videos 0..3; videos/ holds 0, 1 and 2 (video3 is missing).
fs::path make_msrvtt(const std::string& name) {
  fs::path root = xclip::test::temp_dir(name);
  write(root / "ann/MSRVTT_data.json", R"({
  "info": {"year": 2016},
  "videos": [
    {"video_id": "video0", "url": "https://www.youtube.com/watch?v=AAA", "category": 9},
    {"video_id": "video1", "url": "https://www.youtube.com/watch?v=BBB", "category": 3},
    {"video_id": "video2", "url": "https://www.youtube.com/watch?v=CCC", "category": 3},
    {"video_id": "video3", "url": "https://www.youtube.com/watch?v=DDD", "category": 1}
  ],
  "sentences": [
    {"caption": "a man is singing", "video_id": "video1", "sen_id": 0},
    {"caption": "a cartoon, with a dog", "video_id": "video0", "sen_id": 1},
    {"caption": "video three", "video_id": "video3", "sen_id": 2},
    {"caption": "someone sings a song", "video_id": "video1", "sen_id": 3},
    {"caption": "test video two", "video_id": "video2", "sen_id": 4},
    {"caption": "a dog runs", "video_id": "video0", "sen_id": 5}
  ]
})");
  write(root / "ann/MSRVTT_train.9k.csv", "video_id\nvideo0\nvideo1\nvideo3\n");
  write(root / "ann/MSRVTT_train.7k.csv", "video_id\nvideo1\n");
  write(root / "ann/MSRVTT_JSFUSION_test.csv",
        "key,vid_key,video_id,sentence\n"
        "ret0,msr2,video2,\"a woman, talking\"\n"
        "ret1,msr3,video3,missing video\n"
        "ret2,msr0,video0,a cartoon\n");
  for (const char* v : {"video0.mp4", "video1.mp4", "video2.mp4", "notes.txt"}) write(root / "videos" / v, "x");
  return root;
}

DatasetOptions msrvtt_options(const fs::path& root, const std::string& split) {
  DatasetOptions o;
  o.kind = DatasetKind::msrvtt;
  o.split = split;
  o.data_path = root / "ann";
  o.features_path = root / "videos";
  return o;
}

std::vector<std::string> first_captions(const Dataset& d) {
  std::vector<std::string> out;
  for (const auto& s : d.samples) out.push_back(s.captions.at(0));
  return out;
}

}  // namespace

TEST_CASE("msrvtt train, expanded: every caption of a listed video, in JSON order", "[dataset][msrvtt]") {
  fs::path root = make_msrvtt("ds_msrvtt_expand");
  Dataset d = read_dataset(msrvtt_options(root, "train"));
  // video3 is listed but has no file: skipped and reported; its caption is not a sample.
  REQUIRE(d.clips.size() == 2);
  CHECK(d.clips[0].video_id == "video0");  // clips in csv order
  CHECK(d.clips[1].video_id == "video1");
  CHECK(d.clips[0].path == root / "videos/video0.mp4");
  CHECK_FALSE(d.clips[0].start.has_value());
  CHECK(first_captions(d) ==
        std::vector<std::string>{"a man is singing", "a cartoon, with a dog", "someone sings a song", "a dog runs"});
  CHECK(d.samples[0].clip == 1);
  CHECK(d.samples[1].clip == 0);
  REQUIRE(d.skipped.size() == 1);
  CHECK(d.skipped[0].video_id == "video3");
  CHECK_THAT(d.skipped[0].reason, Catch::Contains("video3") && Catch::Contains("videos"));
  CHECK_FALSE(d.multi_sentence_per_video);
  CHECK_THAT(d.summary(), Catch::Contains("msrvtt/train: 2 clips, 4 samples") && Catch::Contains("1 video skipped") &&
                              Catch::Contains("video3"));
}

TEST_CASE("msrvtt train, not expanded: one sample per csv row holding all its captions", "[dataset][msrvtt]") {
  fs::path root = make_msrvtt("ds_msrvtt_random");
  DatasetOptions o = msrvtt_options(root, "train");
  o.expand_msrvtt_sentences = false;
  Dataset d = read_dataset(o);
  REQUIRE(d.samples.size() == 2);
  CHECK(d.samples[0].captions == std::vector<std::string>{"a cartoon, with a dog", "a dog runs"});
  CHECK(d.samples[1].captions == std::vector<std::string>{"a man is singing", "someone sings a song"});
  // The original's --data_path is the json itself; a 7k csv is passed as train_csv.
  o.data_path = root / "ann/MSRVTT_data.json";
  o.train_csv = root / "ann/MSRVTT_train.7k.csv";
  Dataset d7 = read_dataset(o);
  REQUIRE(d7.samples.size() == 1);
  CHECK(d7.clips.at(0).video_id == "video1");
}

TEST_CASE("msrvtt test: the JSFUSION csv, one caption per row, quoted commas kept", "[dataset][msrvtt]") {
  fs::path root = make_msrvtt("ds_msrvtt_test");
  for (const char* split : {"test", "val"}) {
    Dataset d = read_dataset(msrvtt_options(root, split));
    REQUIRE(d.samples.size() == 2);
    CHECK(first_captions(d) == std::vector<std::string>{"a woman, talking", "a cartoon"});
    CHECK(d.clips.at(0).video_id == "video2");
    CHECK(d.skipped.size() == 1);
  }
}

TEST_CASE("msrvtt: strict makes a missing video an error naming it", "[dataset][msrvtt][errors]") {
  fs::path root = make_msrvtt("ds_msrvtt_strict");
  DatasetOptions o = msrvtt_options(root, "test");
  o.strict = true;
  CHECK_THROWS_WITH(read_dataset(o), Catch::Contains("strict") && Catch::Contains("video3"));
  write(root / "videos/video3.mp4", "x");
  CHECK(read_dataset(o).samples.size() == 3);
}

TEST_CASE("msrvtt: malformed files are errors naming file and line", "[dataset][msrvtt][errors]") {
  fs::path root = make_msrvtt("ds_msrvtt_bad");
  DatasetOptions o = msrvtt_options(root, "train");
  write(root / "ann/MSRVTT_data.json", "{\n \"sentences\": [\n  {\"video_id\": \"video0\", \"caption\": }\n ]\n}\n");
  CHECK_THROWS_WITH(read_dataset(o), Catch::Contains("MSRVTT_data.json:3:") && Catch::Contains("malformed JSON"));
  write(root / "ann/MSRVTT_data.json", R"({"sentences": [{"video_id": "video0", "caption": "ok"}, {"video_id": "video1"}]})");
  CHECK_THROWS_WITH(read_dataset(o), Catch::Contains("MSRVTT_data.json: sentences[1]") &&
                                         Catch::Contains("missing 'caption'"));
  write(root / "ann/MSRVTT_JSFUSION_test.csv", "key,vid_key,video_id,sentence\nret0,msr0,video0,\"unclosed\n");
  CHECK_THROWS_WITH(read_dataset(msrvtt_options(root, "test")),
                    Catch::Contains("MSRVTT_JSFUSION_test.csv:2") && Catch::Contains("unterminated"));
  fs::remove(root / "ann/MSRVTT_train.9k.csv");
  CHECK_THROWS_WITH(read_dataset(o), Catch::Contains("MSRVTT_train.9k.csv") && Catch::Contains("not found"));
  o.features_path = root / "no_such_folder";
  CHECK_THROWS_WITH(read_dataset(o), Catch::Contains("no_such_folder"));
}

TEST_CASE("video lookup: mp4 before webm, other containers, nested folders, unusable files",
          "[dataset][lookup]") {
  auto shared = xclip::test::shared_dir();
  if (!shared) XCLIP_SKIP("../shared is absent: the zoo videos are needed for this test");
  fs::path media = *shared / "media";
  fs::path root = xclip::test::temp_dir("ds_lookup");
  fs::create_directories(root / "v/sub");
  fs::create_symlink(media / "vp9_24fps_320x180.webm", root / "v/a.webm");
  fs::create_symlink(media / "h264_30fps_320x240.mp4", root / "v/sub/a.mp4");
  fs::create_symlink(media / "hevc_30fps_320x240.mkv", root / "v/b.mkv");
  fs::create_symlink(media / "mjpeg_15fps_320x240.avi", root / "v/sub/c.avi");
  fs::create_symlink(root / "v/nowhere.mp4", root / "v/broken.mp4");
  fs::create_symlink(media / "bad_empty.mp4", root / "v/empty.mp4");
  xclip::data::detail::VideoIndex index(root / "v");
  CHECK(index.find("a").path == root / "v/sub/a.mp4");  // mp4 wins over webm, as the original
  CHECK(index.find("b").path == root / "v/b.mkv");
  CHECK(index.find("c").path == root / "v/sub/c.avi");
  CHECK_THAT(index.find("broken").problem, Catch::Contains("broken link"));
  CHECK_THAT(index.find("empty").problem, Catch::Contains("empty file"));
  CHECK_THAT(index.find("zzz").problem, Catch::Contains("no file zzz."));
}

TEST_CASE("clip spans follow the original's integer rule", "[dataset]") {
  auto span = [](std::optional<double> s, std::optional<double> e) { return clip_seconds(Clip{"v", "", s, e}); };
  CHECK_FALSE(span(std::nullopt, std::nullopt).has_value());
  CHECK(span(0.0, 31.0)->start == 0);
  CHECK(span(0.0, 31.0)->end == 31);
  CHECK(span(5.0, 12.5)->end == 12);   // int() truncates
  CHECK(span(-3.0, 4.0)->start == 0);  // negatives become 0
  CHECK(span(9.0, 4.0)->start == 4);   // reversed spans are swapped
  CHECK(span(9.0, 4.0)->end == 9);
  CHECK(span(7.0, 7.0)->end == 8);     // empty spans get one second
  CHECK(clip_key(Clip{"v_x", "", 0.0, 31.0}) == "v_x@0-31");
  CHECK(clip_key(Clip{"v", "", 5.0, 12.5}) == "v@5-12.5");
  CHECK(clip_key(Clip{"video7", "", std::nullopt, std::nullopt}) == "video7");
  CHECK(dataset_kind_from_name("activity") == DatasetKind::activitynet);
  CHECK_THROWS_WITH(dataset_kind_from_name("kinetics"), Catch::Contains("kinetics"));
}
