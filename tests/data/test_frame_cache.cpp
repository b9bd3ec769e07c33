// The frame cache: extraction round trip (the cache holds exactly the decoder's crops), loader
// batches from the cache equal batches from the videos, resume after an interruption, atomic
// publication, failures recorded, and checks that reject a wrong or damaged cache.
#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>

#include "test_util.hpp"
#include "xclip/core/error.hpp"
#include "xclip/data/dataset_readers.hpp"
#include "xclip/data/frame_cache.hpp"
#include "xclip/data/loader.hpp"

using namespace xclip;
using namespace xclip::data;
namespace fs = std::filesystem;

namespace {

const char* kVideos[] = {"h264_30fps_320x240.mp4", "short_1s_h264_320x240.mp4", "vp9_24fps_320x180.webm",
                         "long_45s_h264_160x120.mp4", "hevc_30fps_320x240.mkv"};

// DiDeMo-style set (spans [0, 31]) plus, optionally, an undecodable file.
std::optional<Dataset> cache_dataset(const fs::path& root, bool with_bad_video) {
  auto shared = xclip::test::shared_dir();
  if (!shared) return std::nullopt;
  fs::create_directories(root / "videos");
  std::string list, json = "[";
  int i = 0;
  for (const char* file : kVideos) {
    fs::path src = *shared / "media" / file;
    std::string id = "clip" + std::to_string(i++);
    fs::create_symlink(src, root / "videos" / (id + src.extension().string()));
    list += id + "\n";
    json += format(json.size() > 1 ? "," : "", R"({"description": "about )", file, R"(", "times": [[0, 1]], "video": ")",
                   id, "\"}");
  }
  if (with_bad_video) {
    fs::create_symlink(*shared / "media/bad_truncated_half.mp4", root / "videos/broken.mp4");
    list += "broken\n";
    json += R"(,{"description": "broken", "times": [[0, 1]], "video": "broken"})";
  }
  std::ofstream(root / "test_list.txt") << list;
  std::ofstream(root / "test_data.json") << json << "]";
  DatasetOptions o;
  o.kind = DatasetKind::didemo;
  o.split = "test";
  o.data_path = root;
  o.features_path = root / "videos";
  return read_dataset(o);
}

FrameSampling small_sampling() {
  FrameSampling s;
  s.max_frames = 5;
  s.slice_framepos = 2;
  s.size = 40;
  return s;
}

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

EncodedText fixed_encoder(const std::string&, int max_words) {
  EncodedText e;
  e.input_ids.assign(size_t(max_words), 7);
  e.attention_mask.assign(size_t(max_words), 1);
  return e;
}

}  // namespace

TEST_CASE("frame cache: extraction holds exactly the decoder's crops and masks", "[cache][video]") {
  fs::path root = xclip::test::temp_dir("cache_roundtrip");
  auto d = cache_dataset(root, false);
  if (!d) XCLIP_SKIP("../shared is absent: the zoo videos are needed for this test");
  ExtractOptions o;
  o.out = root / "cache";
  o.sampling = small_sampling();
  o.threads = 2;
  std::vector<ExtractProgress> progress;
  o.progress_interval_s = 0;
  o.on_progress = [&](const ExtractProgress& p) { progress.push_back(p); };
  ExtractReport r = extract_frame_cache(*d, o);
  CHECK(r.finished);
  CHECK(r.extracted == 5);
  CHECK(r.failed == 0);
  CHECK_FALSE(fs::exists(root / "cache.partial"));
  REQUIRE_FALSE(progress.empty());
  CHECK(progress.back().done == 5);
  CHECK_THAT(progress.back().line(), Catch::Contains("5/5 clips (100.0%)") && Catch::Contains("clips/s"));

  auto cache = FrameCache::open(root / "cache");
  REQUIRE(cache->clip_count() == 5);
  CHECK(cache->max_frames() == 5);
  CHECK(cache->size() == 40);
  CHECK(cache->manifest()["sampling"]["slice_framepos"] == 2);
  CHECK(cache->manifest()["dataset"]["kind"] == "didemo");
  for (size_t i = 0; i < d->clips.size(); ++i) {
    auto at = cache->find(clip_key(d->clips[i]));
    REQUIRE(at.has_value());
    VideoFrames v = decode_clip(d->clips[i], o.sampling);
    FrameCache::ClipView view = cache->clip(*at);
    CHECK(view.frames == v.frames);
    CHECK_FALSE(view.failed);
    CHECK(std::memcmp(view.rgb, v.rgb.data(), v.rgb.size()) == 0);
    for (int f = 0; f < 5; ++f) CHECK(view.mask[f] == (f < v.frames ? 1 : 0));
  }
  // The 45 s video is sampled down to 5 frames, the 1 s one keeps what it has.
  CHECK(cache->clip(3).frames == 5);
  CHECK(cache->clip(1).frames < 5);

  // gather: contiguous copies, the same with several threads.
  std::vector<int64_t> pick{4, 0, 3, 3};
  std::vector<uint8_t> rgb1(pick.size() * cache->record_bytes()), rgb2(rgb1.size()), m1(pick.size() * 5), m2(m1.size());
  cache->gather(pick, rgb1.data(), m1.data(), 1);
  cache->gather(pick, rgb2.data(), m2.data(), 3);
  CHECK(rgb1 == rgb2);
  CHECK(m1 == m2);
  CHECK(std::memcmp(rgb1.data() + cache->record_bytes(), cache->clip(0).rgb, cache->record_bytes()) == 0);

  // A second run finds the finished cache and does nothing.
  ExtractReport again = extract_frame_cache(*d, o);
  CHECK(again.already_complete);
  CHECK_THAT(again.summary(), Catch::Contains("already complete"));
}

TEST_CASE("frame cache: the loader gives the same batches from the cache as from the videos", "[cache][loader][video]") {
  fs::path root = xclip::test::temp_dir("cache_loader");
  auto d = cache_dataset(root, false);
  if (!d) XCLIP_SKIP("../shared is absent: the zoo videos are needed for this test");
  ExtractOptions x;
  x.out = root / "cache";
  x.sampling = small_sampling();
  extract_frame_cache(*d, x);
  for (int frame_order : {0, 2}) {
    LoaderOptions o;
    o.batch_size = 2;
    o.threads = 2;
    o.shuffle = true;
    o.max_words = 6;
    o.sampling = small_sampling();
    o.sampling.frame_order = frame_order;
    Loader from_video(*d, o, fixed_encoder);
    o.cache = FrameCache::open(root / "cache");
    Loader from_cache(*d, o, fixed_encoder);
    from_video.start_epoch(1);
    from_cache.start_epoch(1);
    int batches = 0;
    while (auto a = from_video.next()) {
      auto b = from_cache.next();
      REQUIRE(b.has_value());
      CHECK(a->items == b->items);
      REQUIRE(a->video.nbytes() == b->video.nbytes());
      CHECK(std::memcmp(a->video.raw_data(), b->video.raw_data(), a->video.nbytes()) == 0);
      CHECK(std::memcmp(a->video_mask.raw_data(), b->video_mask.raw_data(), a->video_mask.nbytes()) == 0);
      ++batches;
    }
    CHECK(batches == 3);
    CHECK_FALSE(from_cache.next().has_value());
  }
}

TEST_CASE("frame cache: an interrupted extraction resumes and ends identical to a single run", "[cache][video]") {
  fs::path root = xclip::test::temp_dir("cache_resume");
  auto d = cache_dataset(root, false);
  if (!d) XCLIP_SKIP("../shared is absent: the zoo videos are needed for this test");
  ExtractOptions o;
  o.sampling = small_sampling();
  o.out = root / "one_run";
  REQUIRE(extract_frame_cache(*d, o).finished);

  o.out = root / "resumed";
  o.threads = 1;
  o.stop_after = 2;
  ExtractReport first = extract_frame_cache(*d, o);
  CHECK_FALSE(first.finished);
  CHECK(first.extracted == 2);
  CHECK_THAT(first.summary(), Catch::Contains("unfinished"));
  CHECK_FALSE(fs::exists(root / "resumed"));  // nothing is published before the end
  CHECK(fs::exists(root / "resumed.partial/manifest.json"));
  CHECK_THROWS_WITH(FrameCache::open(root / "resumed.partial"), Catch::Contains("unfinished"));

  // A different sampling must not continue someone else's partial extraction.
  ExtractOptions other = o;
  other.sampling.max_frames = 3;
  CHECK_THROWS_WITH(extract_frame_cache(*d, other), Catch::Contains("resumed.partial") && Catch::Contains("different"));

  o.stop_after = -1;
  o.threads = 2;
  ExtractReport second = extract_frame_cache(*d, o);
  CHECK(second.finished);
  CHECK(second.done_before == 2);
  CHECK(second.extracted == 3);
  CHECK_FALSE(fs::exists(root / "resumed.partial"));
  for (const char* f : {"frames.u8", "masks.u8", "status.u8"})
    CHECK(file_bytes(root / "one_run" / f) == file_bytes(root / "resumed" / f));
}

TEST_CASE("frame cache: failures are recorded, reported by the loader, and strict stops", "[cache][video][errors]") {
  fs::path root = xclip::test::temp_dir("cache_failures");
  auto d = cache_dataset(root, true);
  if (!d) XCLIP_SKIP("../shared is absent: the zoo videos are needed for this test");
  REQUIRE(d->clips.size() == 6);
  ExtractOptions o;
  o.out = root / "cache";
  o.sampling = small_sampling();
  std::vector<VideoProblem> problems;
  o.on_video_problem = [&](const VideoProblem& p) { problems.push_back(p); };
  ExtractReport r = extract_frame_cache(*d, o);
  // bad_truncated_half.mp4 is an error for the decoder (the zoo manifest's "expected": "error").
  CHECK(r.finished);
  CHECK(r.failed == 1);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].video_id == "broken");
  auto cache = FrameCache::open(root / "cache");
  REQUIRE(cache->manifest()["failures"].size() == 1);
  CHECK(cache->manifest()["failures"][0]["key"] == "broken@0-31");
  {
    FrameCache::ClipView view = cache->clip(5);
    CHECK(view.failed);
    CHECK(view.frames == 0);
    CHECK_FALSE(cache->failure_reason(5).empty());

    LoaderOptions lo;
    lo.batch_size = 6;
    lo.max_words = 4;
    lo.sampling = small_sampling();
    lo.cache = cache;
    std::vector<VideoProblem> seen;
    lo.on_video_problem = [&](const VideoProblem& p) { seen.push_back(p); };
    Loader loader(*d, lo, fixed_encoder);
    loader.start_epoch(0);
    auto b = loader.next();
    REQUIRE(b.has_value());
    CHECK(b->failed_videos == 1);
    REQUIRE(seen.size() == 1);
    CHECK_THAT(seen[0].reason, Catch::Contains("failed at extraction"));

    ExtractOptions strict = o;
    strict.out = root / "strict";
    strict.strict = true;
    CHECK_THROWS_WITH(extract_frame_cache(*d, strict), Catch::Contains("strict") && Catch::Contains("broken"));
    CHECK(fs::exists(root / "strict.partial"));  // resumable once the file is fixed
    CHECK_FALSE(fs::exists(root / "strict"));
  }
}

TEST_CASE("frame cache: a wrong sampling, a missing clip or a damaged file is refused", "[cache][errors]") {
  fs::path root = xclip::test::temp_dir("cache_checks");
  auto d = cache_dataset(root, false);
  if (!d) XCLIP_SKIP("../shared is absent: the zoo videos are needed for this test");
  ExtractOptions o;
  o.out = root / "cache";
  o.sampling = small_sampling();
  extract_frame_cache(*d, o);
  auto cache = FrameCache::open(root / "cache");

  FrameSampling other = small_sampling();
  other.max_frames = 8;
  CHECK_THROWS_WITH(cache->check_compatible(other), Catch::Contains("max_frames") && Catch::Contains("8"));
  other = small_sampling();
  other.frame_order = 1;  // applied at reading: any order is fine
  CHECK_NOTHROW(cache->check_compatible(other));

  Dataset fewer = *d;
  fewer.clips.push_back({"not_extracted", root / "videos/clip0.mp4", std::nullopt, std::nullopt});
  fewer.samples.push_back({int64_t(fewer.clips.size()) - 1, {"x"}});
  LoaderOptions lo;
  lo.sampling = small_sampling();
  lo.cache = cache;
  CHECK_THROWS_WITH(Loader(fewer, lo, fixed_encoder), Catch::Contains("lacks 1 clip") &&
                                                          Catch::Contains("not_extracted"));

  // Another dataset into the same folder is refused rather than overwritten.
  CHECK_THROWS_WITH(extract_frame_cache(fewer, o), Catch::Contains("not a finished cache of this dataset"));

  fs::resize_file(root / "cache/frames.u8", 1000);
  CHECK_THROWS_WITH(FrameCache::open(root / "cache"), Catch::Contains("frames.u8") && Catch::Contains("damaged"));
  CHECK_THROWS_WITH(FrameCache::open(root / "nowhere"), Catch::Contains("nowhere"));
}
