// MSVD, VATEX, LSMDC, DiDeMo and ActivityNet readers on tiny datasets in the original layouts: counts,
// captions, times, multi-sentence grouping, missing videos and malformed files. Placeholder
// files stand in for the videos (the readers only look them up).
#include <catch2/catch.hpp>
#include <cstring>
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

void touch_videos(const fs::path& dir, std::initializer_list<const char*> names) {
  for (const char* n : names) write(dir / n, "x");
}

// A protocol-2 pickle of {id: [[token, ...], ...]} as Python writes raw-captions.pkl (no memo ops).
std::string pickle_captions(const std::vector<std::pair<std::string, std::vector<std::vector<std::string>>>>& d) {
  auto unicode = [](const std::string& s) {
    std::string out = "X";
    uint32_t n = uint32_t(s.size());
    char len[4];
    std::memcpy(len, &n, 4);  // little-endian machine, as pickle requires
    return out + std::string(len, 4) + s;
  };
  std::string p = "\x80\x02}(";
  for (const auto& [id, captions] : d) {
    p += unicode(id) + "](";
    for (const auto& tokens : captions) {
      p += "](";
      for (const auto& t : tokens) p += unicode(t);
      p += "e";
    }
    p += "e";
  }
  p += "u.";
  return p;
}

std::vector<std::string> texts(const Dataset& d) {
  std::vector<std::string> out;
  for (const auto& s : d.samples) out.push_back(s.captions.at(0));
  return out;
}

DatasetOptions options_for(DatasetKind kind, const fs::path& root, const std::string& split) {
  DatasetOptions o;
  o.kind = kind;
  o.split = split;
  o.data_path = root / "ann";
  o.features_path = root / "videos";
  return o;
}

}  // namespace

// ---- MSVD ---------------------------------------------------------------------------------------

TEST_CASE("msvd: all captions per video, grouped for the multi-sentence evaluation", "[dataset][msvd]") {
  fs::path root = xclip::test::temp_dir("ds_msvd");
  write(root / "ann/train_list.txt", "vidA\nvidB\n");
  write(root / "ann/test_list.txt", "vidB\n\nvidC \nvidGone\nvidB\n");
  write(root / "ann/raw-captions.pkl",
        pickle_captions({{"vidA", {{"a", "man", "sings"}}},
                         {"vidB", {{"a", "cat", "plays"}, {"the", "kitten", "is", "playing"}, {"cat"}}},
                         {"vidC", {{"someone", "cooks"}, {"cooking"}}},
                         {"vidGone", {{"never", "loaded"}}}}));
  touch_videos(root / "videos", {"vidA.avi", "vidB.avi", "sub/vidC.mp4"});
  Dataset d = read_dataset(options_for(DatasetKind::msvd, root, "test"));
  CHECK(texts(d) == std::vector<std::string>{"a cat plays", "the kitten is playing", "cat", "someone cooks", "cooking"});
  REQUIRE(d.clips.size() == 2);
  CHECK(d.clips[1].path == root / "videos/sub/vidC.mp4");
  CHECK(d.multi_sentence_per_video);
  CHECK(d.cut_off_points == std::vector<int64_t>{3, 5});
  REQUIRE(d.skipped.size() == 1);
  CHECK(d.skipped[0].video_id == "vidGone");

  Dataset train = read_dataset(options_for(DatasetKind::msvd, root, "train"));
  CHECK(train.samples.size() == 4);
  CHECK(train.cut_off_points == std::vector<int64_t>{1, 4});
}

TEST_CASE("msvd: a listed video without captions or a bad pickle is an error naming the file",
          "[dataset][msvd][errors]") {
  fs::path root = xclip::test::temp_dir("ds_msvd_bad");
  write(root / "ann/val_list.txt", "vidA\nvidZ\n");
  write(root / "ann/raw-captions.pkl", pickle_captions({{"vidA", {{"a"}}}}));
  touch_videos(root / "videos", {"vidA.mp4", "vidZ.mp4"});
  CHECK_THROWS_WITH(read_dataset(options_for(DatasetKind::msvd, root, "val")),
                    Catch::Contains("raw-captions.pkl") && Catch::Contains("vidZ") && Catch::Contains("val_list.txt:2"));
  write(root / "ann/raw-captions.pkl", "\x80\x02}(X\x04\x00\x00");  // truncated
  CHECK_THROWS_WITH(read_dataset(options_for(DatasetKind::msvd, root, "val")), Catch::Contains("raw-captions.pkl"));
}

// ---- VATEX --------------------------------------------------------------------------------------

TEST_CASE("vatex: ref_captions.json with the split lists, every caption a sample grouped per video",
          "[dataset][vatex]") {
  fs::path root = xclip::test::temp_dir("ds_vatex");
  write(root / "ann/train_list.txt", "Ptf_2VRj-V0_000122_000132\nabc_000001_000011\n");
  write(root / "ann/test_list.txt", "abc_000001_000011\nzz9_000010_000020\ngone_000000_000010\nabc_000001_000011\n");
  write(root / "ann/ref_captions.json",
        R"({"Ptf_2VRj-V0_000122_000132": ["A man plays a guitar.", "Someone strums."],
            "abc_000001_000011": ["A dog runs.", "The dog is running.", "dog"],
            "zz9_000010_000020": ["A woman cooks \u00e9clairs."],
            "gone_000000_000010": ["never loaded"]})");
  touch_videos(root / "videos", {"Ptf_2VRj-V0_000122_000132.mp4", "abc_000001_000011.webm", "part2/zz9_000010_000020.mp4"});
  Dataset test = read_dataset(options_for(DatasetKind::vatex, root, "test"));
  CHECK(test.kind == DatasetKind::vatex);
  CHECK(texts(test) == std::vector<std::string>{"A dog runs.", "The dog is running.", "dog", "A woman cooks \u00e9clairs."});
  REQUIRE(test.clips.size() == 2);
  CHECK(test.clips[1].path == root / "videos/part2/zz9_000010_000020.mp4");
  CHECK(test.multi_sentence_per_video);
  CHECK(test.cut_off_points == std::vector<int64_t>{3, 4});
  REQUIRE(test.skipped.size() == 1);
  CHECK(test.skipped[0].video_id == "gone_000000_000010");

  Dataset train = read_dataset(options_for(DatasetKind::vatex, root, "train"));
  CHECK(train.samples.size() == 5);
  CHECK(train.cut_off_points == std::vector<int64_t>{2, 5});
  CHECK(dataset_kind_from_name("vatex") == DatasetKind::vatex);
  CHECK(std::string(dataset_kind_name(DatasetKind::vatex)) == "vatex");
}

TEST_CASE("vatex: a listed id without captions, a caption that is not a string or bad JSON names the file",
          "[dataset][vatex][errors]") {
  fs::path root = xclip::test::temp_dir("ds_vatex_bad");
  write(root / "ann/val_list.txt", "vidA\nvidZ\n");
  touch_videos(root / "videos", {"vidA.mp4", "vidZ.mp4"});
  write(root / "ann/ref_captions.json", R"({"vidA": ["a cat"]})");
  CHECK_THROWS_WITH(read_dataset(options_for(DatasetKind::vatex, root, "val")),
                    Catch::Contains("ref_captions.json") && Catch::Contains("vidZ") && Catch::Contains("val_list.txt:2"));
  write(root / "ann/ref_captions.json", R"({"vidA": ["a cat"], "vidZ": ["ok", 7]})");
  CHECK_THROWS_WITH(read_dataset(options_for(DatasetKind::vatex, root, "val")),
                    Catch::Contains("ref_captions.json['vidZ'][1]") && Catch::Contains("must be a string"));
  write(root / "ann/ref_captions.json", R"({"vidA": "a cat", "vidZ": []})");
  CHECK_THROWS_WITH(read_dataset(options_for(DatasetKind::vatex, root, "val")),
                    Catch::Contains("ref_captions.json['vidA']") && Catch::Contains("list of captions"));
  write(root / "ann/ref_captions.json", R"(["vidA"])");
  CHECK_THROWS_WITH(read_dataset(options_for(DatasetKind::vatex, root, "val")),
                    Catch::Contains("ref_captions.json") && Catch::Contains("expected an object"));
  write(root / "ann/ref_captions.json", "{\"vidA\": [\"a\"");
  CHECK_THROWS_WITH(read_dataset(options_for(DatasetKind::vatex, root, "val")),
                    Catch::Contains("ref_captions.json:1:") && Catch::Contains("malformed JSON"));
  // An id whose list is empty is counted, not an error (as MSVD).
  write(root / "ann/ref_captions.json", R"({"vidA": ["a cat"], "vidZ": []})");
  Dataset d = read_dataset(options_for(DatasetKind::vatex, root, "val"));
  CHECK(d.samples.size() == 1);
  CHECK(d.ids_without_captions == 1);
}

// ---- LSMDC --------------------------------------------------------------------------------------

TEST_CASE("lsmdc: tab-separated lines, one sample per line with a video", "[dataset][lsmdc]") {
  fs::path root = xclip::test::temp_dir("ds_lsmdc");
  const std::string a = "0001_American_Beauty_00.00.51.926-00.00.54.129";
  const std::string b = "0001_American_Beauty_00.01.00.000-00.01.02.000";
  write(root / "ann/LSMDC16_annos_training.csv",
        a + "\t00.00.51.926\t00.00.54.129\t00.00.51.926\t00.00.54.129\tSomeone \"looks\", up.\n" +
            b + "\t1\t2\t3\t4\tSomeone walks.\n" +
            a + "\t1\t2\t3\t4\tShe smiles.\n" +
            "0002_Missing_clip\t1\t2\t3\t4\tNo video.\n");
  write(root / "ann/LSMDC16_challenge_1000_publictect.csv", b + "\t1\t2\t3\t4\tSomeone walks.\n");
  touch_videos(root / "videos", {("0001_American_Beauty/" + a + ".avi").c_str(), (b + ".avi").c_str()});
  Dataset d = read_dataset(options_for(DatasetKind::lsmdc, root, "train"));
  CHECK(texts(d) == std::vector<std::string>{"Someone \"looks\", up.", "Someone walks.", "She smiles."});
  REQUIRE(d.clips.size() == 2);  // the same clip id twice is one clip
  CHECK(d.samples[2].clip == 0);
  CHECK(d.clips[0].video_id == a);  // only the last extension is dropped
  CHECK(d.skipped.size() == 1);
  Dataset test = read_dataset(options_for(DatasetKind::lsmdc, root, "test"));
  CHECK(test.samples.size() == 1);
  CHECK_FALSE(test.multi_sentence_per_video);

  write(root / "ann/LSMDC16_annos_val.csv", a + "\t1\t2\t3\t4\tok\n" + b + "\t1\t2\tno sentence\n");
  CHECK_THROWS_WITH(read_dataset(options_for(DatasetKind::lsmdc, root, "val")),
                    Catch::Contains("LSMDC16_annos_val.csv:2") && Catch::Contains("expected 6 fields"));
}

// ---- DiDeMo -------------------------------------------------------------------------------------

namespace {
fs::path make_didemo(const std::string& name) {
  fs::path root = xclip::test::temp_dir(name);
  write(root / "ann/train_list.txt", "v1.mov\nv2\nv_nocap\n");
  write(root / "ann/train_data.json", R"([
  {"description": "a dog runs in.", "times": [[0, 0], [0, 1], [0, 0], [1, 1]], "video": "v1.mov", "annotation_id": 1},
  {"description": "a person waves.", "times": [[2, 3]], "video": "v2"},
  {"description": "the dog stops.", "times": [[4, 5], [4, 4]], "video": "v1.mov"},
  {"description": "not listed.", "times": [[0, 0]], "video": "other"}
])");
  touch_videos(root / "videos", {"v1.mov.mp4", "v2.mp4", "other.mp4"});
  return root;
}
}  // namespace

TEST_CASE("didemo: paragraph per video over [0, 31] s", "[dataset][didemo]") {
  fs::path root = make_didemo("ds_didemo");
  Dataset d = read_dataset(options_for(DatasetKind::didemo, root, "train"));
  CHECK(texts(d) == std::vector<std::string>{"a dog runs in. the dog stops.", "a person waves."});
  REQUIRE(d.clips.size() == 2);
  CHECK(d.clips[0].video_id == "v1.mov");  // file v1.mov.mp4, as the original's split('.mp4')
  CHECK(clip_seconds(d.clips[0])->start == 0);
  CHECK(clip_seconds(d.clips[0])->end == 31);
  CHECK(d.ids_without_captions == 1);
  CHECK(d.skipped.empty());
}

TEST_CASE("didemo: one sample per moment with times in 5-second units", "[dataset][didemo]") {
  fs::path root = make_didemo("ds_didemo_moments");
  DatasetOptions o = options_for(DatasetKind::didemo, root, "train");
  o.paragraph = false;
  Dataset d = read_dataset(o);
  REQUIRE(d.samples.size() == 3);
  // first moment: mean start chunk 0.25 -> 1.25 s, mean end chunk 0.5 -> (0.5 + 1) * 5 = 7.5 s
  const Clip& c0 = d.clips[size_t(d.samples[0].clip)];
  CHECK(*c0.start == Approx(1.25));
  CHECK(*c0.end == Approx(7.5));
  CHECK(clip_seconds(c0)->start == 1);
  CHECK(clip_seconds(c0)->end == 7);
  const Clip& c2 = d.clips[size_t(d.samples[1].clip)];  // "the dog stops." follows v1's first moment
  CHECK(*c2.start == Approx(20.0));
  CHECK(*c2.end == Approx(27.5));
  CHECK(d.clips.size() == 3);  // same video, different spans: separate clips

  write(root / "ann/train_data.json", R"([{"description": "x", "times": [[1]], "video": "v2"}])");
  CHECK_THROWS_WITH(read_dataset(o), Catch::Contains("train_data.json: [0]") && Catch::Contains("times[0]"));
  write(root / "ann/train_data.json", "[\n  {\"description\": \"x\",\n   \"video\" \"v2\"}\n]");
  CHECK_THROWS_WITH(read_dataset(o), Catch::Contains("train_data.json:3:"));
}

// ---- ActivityNet --------------------------------------------------------------------------------

namespace {
fs::path make_activitynet(const std::string& name) {
  fs::path root = xclip::test::temp_dir(name);
  write(root / "ann/train_ids.json", R"(["v_aaa", "v_bbb", "v_aaa", "v_ccc", "v_ddd"])");
  write(root / "ann/val_ids.json", R"(["v_bbb"])");
  write(root / "ann/train.json", R"({
  "v_aaa": {"duration": 12.3, "timestamps": [[0.5, 4.2], [3, 12.3]], "sentences": ["A man jumps.", " He lands."]},
  "v_bbb": {"duration": "20", "timestamps": [[1, 2]], "sentences": ["Kids play."]},
  "v_ddd": {"duration": 5, "timestamps": [[0, 5]], "sentences": ["No video."]}
})");
  write(root / "ann/val_1.json", R"({"v_bbb": {"duration": 20.01, "timestamps": [[1, 2]], "sentences": ["Kids."]}})");
  touch_videos(root / "videos", {"aaa.mp4", "bbb.mkv"});
  return root;
}
}  // namespace

TEST_CASE("activitynet: paragraphs over [0, ceil(duration)], ids without the v_ prefix", "[dataset][activitynet]") {
  fs::path root = make_activitynet("ds_anet");
  Dataset d = read_dataset(options_for(DatasetKind::activitynet, root, "train"));
  CHECK(texts(d) == std::vector<std::string>{"A man jumps.  He lands.", "Kids play."});
  REQUIRE(d.clips.size() == 2);
  CHECK(d.clips[0].video_id == "aaa");
  CHECK(*d.clips[0].end == 13.0);
  CHECK(*d.clips[1].end == 20.0);  // a numeric string, as Python's float() accepts
  CHECK(d.ids_without_captions == 1);  // v_ccc
  REQUIRE(d.skipped.size() == 1);      // v_ddd has captions but no video
  CHECK(d.skipped[0].video_id == "ddd");
  for (const char* split : {"val", "test"}) {
    Dataset v = read_dataset(options_for(DatasetKind::activitynet, root, split));
    REQUIRE(v.clips.size() == 1);
    CHECK(*v.clips[0].end == 21.0);
  }
}

TEST_CASE("activitynet: one sample per sentence with floor/ceil spans", "[dataset][activitynet]") {
  fs::path root = make_activitynet("ds_anet_sentences");
  DatasetOptions o = options_for(DatasetKind::activitynet, root, "train");
  o.paragraph = false;
  Dataset d = read_dataset(o);
  REQUIRE(d.samples.size() == 3);
  CHECK(*d.clips[0].start == 0.0);
  CHECK(*d.clips[0].end == 5.0);
  CHECK(*d.clips[1].start == 3.0);
  CHECK(*d.clips[1].end == 13.0);

  write(root / "ann/train.json", R"({"v_aaa": {"duration": "long", "sentences": []}})");
  o.paragraph = true;
  CHECK_THROWS_WITH(read_dataset(o), Catch::Contains("train.json: v_aaa") && Catch::Contains("\"long\""));
  write(root / "ann/train_ids.json", R"(["v_aaa", 7])");
  CHECK_THROWS_WITH(read_dataset(o), Catch::Contains("train_ids.json: [1]"));
}
