// Damaged data inside a file that still opens: libavcodec skips packets it cannot decode and hands
// back the next frame it can, so a frame asked for at one time could come from a later time. The
// rule here is the original's: sampling stops at the first failed read, and a read whose frame is
// not the one asked for fails. Also: check_clip / check_clips name such files (and the media zoo's
// broken ones) by what is wrong with them.
#include <algorithm>
#include <set>

#include "test_video_util.hpp"
#include "xclip/data/video_check.hpp"

using xclip::data::Clip;
using xclip::data::FrameSampling;
using xclip::data::VideoFrames;
using xclip::data::VideoProblem;
namespace fs = std::filesystem;

namespace {

// 10 s at 30 fps, one key frame every 250 frames (x264's default): damage in the middle cannot be
// skipped by a seek to a later key frame until frame 250.
constexpr const char* kIntact = "h264_30fps_320x240.mp4";

// The intact file and the same file zeroed from 45 % of its bytes for 20000 bytes: frames 140 to
// about 170 (4.7 s to 5.7 s) are gone; the sampled frames 150 (5 s) and later cannot be read at
// their times, so the original rule keeps frames 0..4 (0 s to 4 s).
struct DamagedPair {
  fs::path intact, damaged;
};

std::optional<DamagedPair> damaged_pair(const std::string& name) {
  auto media = xclip::test::media_dir();
  if (!media) return std::nullopt;
  const fs::path intact = *media / kIntact;
  const size_t size = size_t(fs::file_size(intact));
  const fs::path dir = xclip::test::temp_dir(name);
  return DamagedPair{intact, xclip::test::zeroed_copy(intact, dir / "zeroed_middle.mp4", size * 45 / 100, 20000)};
}

FrameSampling every_frame(FrameSampling::Rule rule) {
  FrameSampling s;
  s.max_frames = 1000;
  s.slice_framepos = 0;
  s.rule = rule;
  s.size = 64;
  return s;
}

bool same_frame(const VideoFrames& a, int i, const VideoFrames& b, int j) {
  const size_t bytes = size_t(a.size) * size_t(a.size) * 3;
  return std::equal(a.frame(i), a.frame(i) + bytes, b.frame(j));
}

}  // namespace

TEST_CASE("damage: zeroed middle bytes give the intact file's leading frames, never a later frame", "[video][damage]") {
  auto pair = damaged_pair("damage_frames");
  if (!pair) XCLIP_SKIP("../shared/media is absent: the zoo video to damage is needed for this test");
  for (auto rule : {FrameSampling::opencv_index, FrameSampling::time_based}) {
    INFO("rule " << (rule == FrameSampling::opencv_index ? "opencv" : "time"));
    const auto intact = xclip::test::decode_with_time_limit(pair->intact.string(), every_frame(rule));
    const auto damaged = xclip::test::decode_with_time_limit(pair->damaged.string(), every_frame(rule));
    REQUIRE(intact.ok);
    REQUIRE(damaged.ok);
    REQUIRE(intact.frames.frames == 10);
    // Stopped at the first sampled time whose frame is gone: 0 s .. 4 s, not 10 frames.
    CHECK(damaged.frames.frames == 5);
    CHECK(damaged.frames.sampled == 5);
    CHECK(damaged.frames.promised == 10);
    for (int i = 0; i < damaged.frames.frames; ++i) {
      INFO("frame " << i << " at " << damaged.frames.seconds[size_t(i)] << " s");
      CHECK(damaged.frames.seconds[size_t(i)] == intact.frames.seconds[size_t(i)]);
      CHECK(same_frame(damaged.frames, i, intact.frames, i));
    }
    // A run's selection (slice_framepos 2) takes its frames out of those same leading frames.
    FrameSampling run = every_frame(rule);
    run.max_frames = 4;
    run.slice_framepos = 2;
    const auto some = xclip::test::decode_with_time_limit(pair->damaged.string(), run);
    REQUIRE(some.ok);
    REQUIRE(some.frames.frames == 4);
    const std::vector<int> keep = xclip::data::slice_frame_indices(5, 4, 2);
    for (int i = 0; i < 4; ++i) CHECK(same_frame(some.frames, i, intact.frames, keep[size_t(i)]));
  }
}

TEST_CASE("damage: a file whose first key frame is zeroed yields no frame, not the next key frame's", "[video][damage]") {
  auto media = xclip::test::media_dir();
  if (!media) XCLIP_SKIP("../shared/media is absent: the zoo video to damage is needed for this test");
  const fs::path dir = xclip::test::temp_dir("damage_start");
  // The media data starts at byte 40; its first packet is the key frame of frames 0..249.
  const fs::path file = xclip::test::zeroed_copy(*media / kIntact, dir / "zeroed_start.mp4", 100, 2900);
  for (auto rule : {FrameSampling::opencv_index, FrameSampling::time_based}) {
    const auto out = xclip::test::decode_with_time_limit(file.string(), every_frame(rule));
    REQUIRE(out.finished);
    REQUIRE(out.other.empty());
    // Either no frame or an error naming the file: never frame 250 (8.3 s) standing in for frame 0.
    if (out.ok) CHECK(out.frames.frames == 0);
    else CHECK_THAT(out.error, Catch::Contains(file.string()));
  }
  const xclip::data::VideoCheck c = xclip::data::check_clip(Clip{"zeroed_start", file, {}, {}}, FrameSampling{});
  REQUIRE_FALSE(c.ok());
  CHECK(c.problem->kind == VideoProblem::Kind::unreadable);
}

TEST_CASE("check_clip: the damaged file is partly corrupt, the intact one is fine", "[video][damage][check]") {
  auto pair = damaged_pair("damage_check");
  if (!pair) XCLIP_SKIP("../shared/media is absent: the zoo video to damage is needed for this test");
  FrameSampling s;
  s.max_frames = 12;
  s.slice_framepos = 2;
  s.size = 32;
  const xclip::data::VideoCheck bad = xclip::data::check_clip(Clip{"zeroed", pair->damaged, {}, {}}, s);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.problem->kind == VideoProblem::Kind::partial);
  CHECK(bad.problem->video_id == "zeroed");
  CHECK_THAT(bad.problem->reason, Catch::Contains(pair->damaged.string()) && Catch::Contains("5 of the 10"));
  CHECK(bad.frames == 5);
  const xclip::data::VideoCheck good = xclip::data::check_clip(Clip{"intact", pair->intact, {}, {}}, s);
  CHECK(good.ok());
  CHECK(good.frames == 10);
  CHECK(good.promised == 10);
}

TEST_CASE("check_clips: every broken file of the media zoo by name and kind, every good file fine", "[video][zoo][check]") {
  auto media = xclip::test::media_dir();
  if (!media) XCLIP_SKIP("../shared/media is absent: the zoo is needed for this test");
  // The broken files, from the zoo's own manifests: expected "error", and "partial" (cut short).
  std::set<std::string> broken;
  for (const char* file : {"manifest.json", "manifest_time.json"}) {
    const nlohmann::json manifest = xclip::io::read_json_file(*media / file, "media manifest");
    for (const auto& [name, entry] : manifest["files"].items())
      if (entry["expected"] == "error" || entry["expected"] == "partial") broken.insert(name);
  }
  REQUIRE(broken.size() >= 4);
  std::vector<Clip> clips;
  for (const auto& entry : fs::directory_iterator(*media)) {
    const std::string ext = entry.path().extension().string();
    if (!entry.is_regular_file() || ext == ".json" || ext == ".md") continue;
    clips.push_back(Clip{entry.path().stem().string(), entry.path(), {}, {}});
  }
  std::sort(clips.begin(), clips.end(), [](const Clip& a, const Clip& b) { return a.path < b.path; });
  xclip::data::CheckOptions o;
  o.sampling.max_frames = 12;
  o.sampling.slice_framepos = 2;
  o.sampling.size = 32;
  o.threads = 2;
  int progress_calls = 0;
  o.on_progress = [&](const xclip::data::ExtractProgress& p) {
    ++progress_calls;
    CHECK_THAT(p.line(), Catch::Contains("clips/s") && Catch::Contains("ETA"));
  };
  const std::vector<xclip::data::VideoCheck> results = xclip::data::check_clips(clips, o);
  REQUIRE(results.size() == clips.size());
  CHECK(progress_calls >= 1);
  std::set<std::string> found;
  for (size_t i = 0; i < clips.size(); ++i) {
    const std::string name = clips[i].path.filename().string();
    INFO(name);
    if (results[i].ok()) continue;
    found.insert(name);
    std::printf("  %-46s %-14s %s\n", name.c_str(), xclip::data::video_problem_kind_name(results[i].problem->kind),
                results[i].problem->reason.c_str());
    CHECK(results[i].problem->file == clips[i].path.string());
  }
  CHECK(found == broken);
  auto kind_of = [&](const std::string& name) {
    for (size_t i = 0; i < clips.size(); ++i)
      if (clips[i].path.filename() == name && !results[i].ok()) return results[i].problem->kind;
    FAIL("no problem found for " << name);
    return VideoProblem::Kind::missing;
  };
  CHECK(kind_of("bad_empty.mp4") == VideoProblem::Kind::empty);
  CHECK(kind_of("bad_text.mp4") == VideoProblem::Kind::unreadable);
  CHECK(kind_of("partial_truncated_faststart_h264_320x240.mp4") == VideoProblem::Kind::partial);
}
