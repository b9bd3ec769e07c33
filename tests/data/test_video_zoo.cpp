// The shared media zoo (../shared/media): every good file must give the reference frames made by
// the original OpenCV + PIL pipeline (manifest.json, frames/) and, with the time rule, the ffmpeg
// CLI references (manifest_time.json, frames_time/): same count, mean absolute difference <= 2
// grey levels per frame. Every bad_* file must end in an xclip::Error naming it, within a time limit.
#include <algorithm>
#include <cstdio>

#include "test_video_util.hpp"

using xclip::data::FrameSampling;
using xclip::data::VideoFrames;
namespace fs = std::filesystem;

namespace {

constexpr double kMaxMeanAbsDiff = 2.0;

// Every frame the rule yields: a max_frames large enough that nothing is dropped.
FrameSampling all_frames(FrameSampling::Rule rule) {
  FrameSampling s;
  s.max_frames = 1000;
  s.slice_framepos = 0;
  s.rule = rule;
  return s;
}

// Compares decoded frames with reference PNGs; prints the worst frame of the file.
void check_against_pngs(const std::string& name, const VideoFrames& v, const std::vector<fs::path>& pngs,
                        const char* rule) {
  INFO(name << " (" << rule << " rule)");
  REQUIRE(v.frames == int(pngs.size()));
  double worst = 0;
  int worst_frame = -1;
  for (int i = 0; i < v.frames; ++i) {
    const xclip::data::RgbImage ref = xclip::data::load_image(pngs[size_t(i)].string());
    REQUIRE(ref.width == v.size);
    REQUIRE(ref.height == v.size);
    const double d = xclip::test::mean_abs_diff(v.frame(i), ref.pixels.data(), ref.pixels.size());
    if (d > worst || worst_frame < 0) worst = d, worst_frame = i;
    INFO("frame " << i << " (t = " << v.seconds[size_t(i)] << " s): mean |diff| = " << d);
    CHECK(d <= kMaxMeanAbsDiff);
  }
  std::printf("  %-46s %-6s %3d frames, worst mean |diff| %.4f grey levels (frame %d)\n", name.c_str(), rule, v.frames,
              worst, worst_frame);
}

}  // namespace

TEST_CASE("zoo: every good file matches the OpenCV + PIL reference frames (original rule)", "[video][zoo]") {
  auto media = xclip::test::media_dir();
  if (!media) XCLIP_SKIP("../shared/media is absent: cannot compare with the reference frames");
  const auto manifest = xclip::io::read_json_file(*media / "manifest.json", "media manifest");
  int files = 0;
  for (const auto& [name, entry] : manifest["files"].items()) {
    if (entry["expected"] != "frames") continue;
    std::vector<fs::path> pngs;
    for (const auto& f : entry["reference"]["frames"]) {
      char file[16];
      std::snprintf(file, sizeof file, "%03d.png", f["index"].get<int>());
      pngs.push_back(*media / "frames" / name / file);
    }
    const auto out = xclip::test::decode_with_time_limit((*media / name).string(), all_frames(FrameSampling::opencv_index));
    INFO(name);
    REQUIRE(out.finished);
    REQUIRE(out.other.empty());
    REQUIRE(out.error.empty());
    check_against_pngs(name, out.frames, pngs, "opencv");
    ++files;
  }
  CHECK(files >= 12);
}

TEST_CASE("zoo: every good file matches the ffmpeg reference frames (time rule)", "[video][zoo]") {
  auto media = xclip::test::media_dir();
  if (!media) XCLIP_SKIP("../shared/media is absent: cannot compare with the reference frames");
  const auto manifest = xclip::io::read_json_file(*media / "manifest_time.json", "media manifest");
  int files = 0;
  for (const auto& [name, entry] : manifest["files"].items()) {
    if (entry["expected"] != "ok" && entry["expected"] != "partial") continue;
    std::vector<fs::path> pngs;
    for (const auto& s : entry["seconds"]) pngs.push_back(*media / s["png"].get<std::string>());
    const auto out = xclip::test::decode_with_time_limit((*media / name).string(), all_frames(FrameSampling::time_based));
    INFO(name);
    REQUIRE(out.finished);
    REQUIRE(out.other.empty());
    REQUIRE(out.error.empty());
    check_against_pngs(name, out.frames, pngs, "time");
    ++files;
  }
  CHECK(files >= 13);
}

TEST_CASE("zoo: the truncated file gives the frames before the cut with the original rule", "[video][zoo]") {
  auto media = xclip::test::media_dir();
  if (!media) XCLIP_SKIP("../shared/media is absent");
  const std::string name = "partial_truncated_faststart_h264_320x240.mp4";
  const auto out = xclip::test::decode_with_time_limit((*media / name).string(), all_frames(FrameSampling::opencv_index));
  REQUIRE(out.finished);
  REQUIRE(out.ok);
  // Frames 0, 30, 60 lie before the cut at t = 3 s; the time references hold the same frames.
  std::vector<fs::path> pngs;
  for (int s = 0; s < 3; ++s) {
    char file[16];
    std::snprintf(file, sizeof file, "%03d.png", s);
    pngs.push_back(*media / "frames_time" / name / file);
  }
  check_against_pngs(name, out.frames, pngs, "opencv");
}

TEST_CASE("zoo: max_frames with slice_framepos 2 keeps numpy.linspace's frames of the full sequence", "[video][zoo]") {
  auto media = xclip::test::media_dir();
  if (!media) XCLIP_SKIP("../shared/media is absent");
  const std::string name = "long_45s_h264_160x120.mp4";
  FrameSampling s = all_frames(FrameSampling::opencv_index);
  const auto all = xclip::test::decode_with_time_limit((*media / name).string(), s);
  REQUIRE(all.ok);
  REQUIRE(all.frames.frames == 45);
  for (int slice = 0; slice <= 2; ++slice) {
    s.max_frames = 12;
    s.slice_framepos = slice;
    const auto some = xclip::test::decode_with_time_limit((*media / name).string(), s);
    REQUIRE(some.ok);
    const VideoFrames& v = some.frames;
    REQUIRE(v.frames == 12);
    CHECK(v.sampled == 45);
    CHECK(std::count(v.mask.begin(), v.mask.end(), 1) == 12);
    const std::vector<int> keep = xclip::data::slice_frame_indices(45, 12, slice);
    const size_t bytes = size_t(v.size) * size_t(v.size) * 3;
    for (int i = 0; i < 12; ++i) {
      INFO("slice_framepos " << slice << ", kept frame " << i << " = sampled frame " << keep[size_t(i)]);
      CHECK(std::equal(v.frame(i), v.frame(i) + bytes, all.frames.frame(keep[size_t(i)])));
    }
  }
}

TEST_CASE("zoo: fewer frames than max_frames are zero padded with a mask", "[video][zoo]") {
  auto media = xclip::test::media_dir();
  if (!media) XCLIP_SKIP("../shared/media is absent");
  FrameSampling s;
  s.max_frames = 12;
  const auto out = xclip::test::decode_with_time_limit((*media / "short_1s_h264_320x240.mp4").string(), s);
  REQUIRE(out.ok);
  CHECK(out.frames.frames == 1);
  CHECK(out.frames.mask == std::vector<uint8_t>{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  const xclip::Tensor video = xclip::data::frames_to_tensor(out.frames, s.max_frames);
  CHECK(video.shape() == xclip::Shape{12, 3, 224, 224});
  const float* p = video.data<float>();
  const size_t per_frame = 3 * 224 * 224;
  CHECK(std::all_of(p + per_frame, p + 12 * per_frame, [](float x) { return x == 0.0f; }));
  CHECK(std::any_of(p, p + per_frame, [](float x) { return x != 0.0f; }));
}

TEST_CASE("zoo: clip boundaries select seconds start..end", "[video][zoo]") {
  auto media = xclip::test::media_dir();
  if (!media) XCLIP_SKIP("../shared/media is absent");
  const std::string path = (*media / "long_45s_h264_160x120.mp4").string();
  FrameSampling s = all_frames(FrameSampling::opencv_index);
  const auto all = xclip::test::decode_with_time_limit(path, s);
  REQUIRE(all.ok);
  for (auto rule : {FrameSampling::opencv_index, FrameSampling::time_based}) {
    s.rule = rule;
    s.start_sec = 10;
    s.end_sec = 20;
    const auto clip = xclip::test::decode_with_time_limit(path, s);
    REQUIRE(clip.ok);
    REQUIRE(clip.frames.frames == 11);
    const size_t bytes = size_t(224) * 224 * 3;
    for (int i = 0; i < 11; ++i) {
      INFO("rule " << int(rule) << ", clip frame " << i);
      CHECK(std::equal(clip.frames.frame(i), clip.frames.frame(i) + bytes, all.frames.frame(10 + i)));
    }
  }
}

TEST_CASE("zoo: every bad file gives an error naming it, never a crash or a hang", "[video][zoo][bad]") {
  auto media = xclip::test::media_dir();
  if (!media) XCLIP_SKIP("../shared/media is absent");
  const auto manifest = xclip::io::read_json_file(*media / "manifest.json", "media manifest");
  int bad = 0;
  for (const auto& [name, entry] : manifest["files"].items()) {
    if (entry["expected"] != "error") continue;
    for (auto rule : {FrameSampling::opencv_index, FrameSampling::time_based}) {
      FrameSampling s;
      s.rule = rule;
      const std::string path = (*media / name).string();
      const auto out = xclip::test::decode_with_time_limit(path, s);
      INFO(name);
      REQUIRE(out.finished);
      CHECK(out.other.empty());
      CHECK_FALSE(out.ok);
      CHECK(out.error.find(path) != std::string::npos);
      std::printf("  %-26s -> %s\n", name.c_str(), out.error.c_str());
    }
    ++bad;
  }
  CHECK(bad >= 3);
}

TEST_CASE("missing video file: an error naming it", "[video]") {
  const std::string path = (xclip::test::temp_dir("missing_video") / "nothing_here.mp4").string();
  FrameSampling s;
  try {
    xclip::data::load_frames(path, s);
    FAIL("no error for a missing file");
  } catch (const xclip::Error& e) {
    CHECK(std::string(e.what()).find(path) != std::string::npos);
  }
}
