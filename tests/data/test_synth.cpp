// The synthetic moving-shapes dataset: the held-out-combination split, the files in the MSR-VTT
// layout read back by our reader, the decoded videos showing what their captions say, byte
// identical output for a seed, write_video round trips and clear errors.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <tuple>

#include "test_video_util.hpp"
#include "xclip/core/error.hpp"
#include "xclip/data/csv.hpp"
#include "xclip/data/dataset.hpp"
#include "xclip/data/synth.hpp"
#include "xclip/data/video_decoder.hpp"

using namespace xclip;
using namespace xclip::data;
namespace fs = std::filesystem;

namespace {

using Key = std::tuple<int, int, int, int>;
Key key(const SynthCombo& c) { return {c.colour, c.shape, c.motion, c.background}; }

SynthOptions small_options(const fs::path& out, int train = 20, int test = 10) {
  SynthOptions o;
  o.out = out;
  o.train = train;
  o.test = test;
  o.threads = 2;
  return o;
}

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every split property the test set promises, on a plan.
void check_split(const std::vector<SynthVideo>& plan, const SynthOptions& o) {
  std::set<Key> train, test;
  std::set<int> values[4];
  std::set<std::string> test_captions;
  for (const SynthVideo& v : plan) {
    if (v.test) {
      CHECK(test.insert(key(v.combo)).second);  // one test video per combination
      CHECK(test_captions.insert(v.captions[0]).second);
      continue;
    }
    train.insert(key(v.combo));
    values[0].insert(v.combo.colour), values[1].insert(v.combo.shape);
    values[2].insert(v.combo.motion), values[3].insert(v.combo.background);
  }
  CHECK(int(test.size()) == o.test);
  CHECK(int(plan.size()) == o.train + o.test);
  for (const Key& k : test) CHECK_FALSE(train.count(k));
  CHECK(values[0].size() == synth_colour_names().size());
  CHECK(values[1].size() == synth_shape_names().size());
  CHECK(values[2].size() == synth_motion_names().size());
  CHECK(values[3].size() == synth_background_names().size());
  // Test combinations come in mirror pairs (left/right, up/down, grow/shrink): only the frame
  // order tells the two videos apart. With an odd count one combination has no partner.
  int unpaired = 0;
  for (const Key& k : test) {
    auto [c, s, m, b] = k;
    if (!test.count({c, s, m ^ 1, b})) ++unpaired;
  }
  CHECK(unpaired == o.test % 2);
}

// The canonical caption's attributes, parsed from its words.
struct Parsed {
  std::string colour, shape, motion, background;
};
Parsed parse_caption(const std::string& caption) {
  Parsed p;
  auto word_in = [&](const std::vector<std::string>& names, const std::string& before, const std::string& after) {
    for (const auto& n : names)
      if (caption.find(before + n + after) != std::string::npos) return n;
    return std::string();
  };
  p.colour = word_in(synth_colour_names(), " ", " ");
  p.shape = word_in(synth_shape_names(), " ", " ");
  p.background = word_in(synth_background_names(), " ", " background");
  const std::pair<const char*, const char*> motions[] = {{"moves to the left", "left"}, {"moves to the right", "right"},
                                                         {"moves up", "up"},           {"moves down", "down"},
                                                         {"grows", "grow"},            {"shrinks", "shrink"}};
  for (const auto& [text, name] : motions)
    if (caption.find(text) != std::string::npos) p.motion = name;
  return p;
}

struct FrameStats {
  double area = 0, cx = 0, cy = 0;
  std::array<int, 3> centre_rgb{}, corner_rgb{};
};

// Pixels that differ from the corner pixel (the background) by more than `threshold` in some channel.
FrameStats measure(const uint8_t* rgb, int size) {
  FrameStats f;
  for (int k = 0; k < 3; ++k) f.corner_rgb[size_t(k)] = rgb[k];
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      const uint8_t* p = rgb + 3 * (size_t(y) * size_t(size) + size_t(x));
      int diff = 0;
      for (int k = 0; k < 3; ++k) diff = std::max(diff, std::abs(int(p[k]) - f.corner_rgb[size_t(k)]));
      if (diff <= 50) continue;
      f.area += 1, f.cx += x + 0.5, f.cy += y + 0.5;
    }
  }
  if (f.area > 0) f.cx /= f.area, f.cy /= f.area;
  const int px = std::clamp(int(f.cx), 0, size - 1), py = std::clamp(int(f.cy), 0, size - 1);
  for (int k = 0; k < 3; ++k) f.centre_rgb[size_t(k)] = rgb[3 * (size_t(py) * size_t(size) + size_t(px)) + size_t(k)];
  return f;
}

int index_of(const std::vector<std::string>& names, const std::string& name) {
  auto it = std::find(names.begin(), names.end(), name);
  REQUIRE(it != names.end());
  return int(it - names.begin());
}

void check_close(const std::array<int, 3>& got, const std::array<uint8_t, 3>& want, int tolerance) {
  for (size_t k = 0; k < 3; ++k) CHECK(std::abs(got[k] - int(want[k])) <= tolerance);
}

// Decodes one video with the original 1-frame-per-second rule and checks that it shows its caption.
void check_video_shows(const fs::path& path, const std::string& caption, const SynthOptions& o) {
  INFO(path.string() << ": \"" << caption << "\"");
  const Parsed want = parse_caption(caption);
  REQUIRE(!want.colour.empty());
  REQUIRE(!want.shape.empty());
  REQUIRE(!want.motion.empty());
  REQUIRE(!want.background.empty());
  FrameSampling s;
  s.max_frames = 100;
  s.size = o.size;  // no resize: the pixels as encoded
  const VideoFrames v = load_video_frames(path.string(), s);
  REQUIRE(v.frames == o.seconds);  // frames 0, fps, 2 fps, ...
  std::vector<FrameStats> f;
  for (int i = 0; i < v.frames; ++i) f.push_back(measure(v.frame(i), o.size));
  const double side = o.size;
  for (const FrameStats& x : f) {
    REQUIRE(x.area > 0);
    check_close(x.corner_rgb, synth_background_rgb(index_of(synth_background_names(), want.background)), 12);
  }
  // The shape's colour at its centroid (inside every shape) in the largest frame.
  const auto largest = std::max_element(f.begin(), f.end(), [](auto& a, auto& b) { return a.area < b.area; });
  check_close(largest->centre_rgb, synth_colour_rgb(index_of(synth_colour_names(), want.colour)), 40);

  const FrameStats &first = f.front(), &last = f.back();
  const bool horizontal = want.motion == "left" || want.motion == "right";
  const bool vertical = want.motion == "up" || want.motion == "down";
  const int sign = (want.motion == "right" || want.motion == "down" || want.motion == "grow") ? 1 : -1;
  for (size_t i = 1; i < f.size(); ++i) {  // every step goes the captioned way
    if (horizontal) CHECK(sign * (f[i].cx - f[i - 1].cx) > 0.5);
    if (vertical) CHECK(sign * (f[i].cy - f[i - 1].cy) > 0.5);
    if (!horizontal && !vertical) CHECK(sign * (f[i].area - f[i - 1].area) > 0);
  }
  if (horizontal) {
    CHECK(sign * (last.cx - first.cx) > 0.25 * side);
    CHECK(std::abs(last.cy - first.cy) < 0.05 * side);
  } else if (vertical) {
    CHECK(sign * (last.cy - first.cy) > 0.25 * side);
    CHECK(std::abs(last.cx - first.cx) < 0.05 * side);
  } else {
    const double ratio = want.motion == "grow" ? last.area / first.area : first.area / last.area;
    CHECK(ratio > 3.0);
    CHECK(std::hypot(last.cx - first.cx, last.cy - first.cy) < 0.05 * side);
  }
}

DatasetOptions reader_options(const fs::path& root, const std::string& split, bool expand = true) {
  DatasetOptions d;
  d.kind = DatasetKind::msrvtt;
  d.split = split;
  d.data_path = root;
  d.features_path = root / "videos";
  d.expand_msrvtt_sentences = expand;
  d.strict = true;
  return d;
}

}  // namespace

TEST_CASE("synth plan: held-out test combinations, every value in training, distinct captions", "[synth]") {
  for (const auto& [train, test, seed] : {std::tuple{800, 100, 0}, std::tuple{20, 10, 3}, std::tuple{30, 7, 11},
                                          std::tuple{400, 300, 5}}) {
    INFO("train " << train << ", test " << test << ", seed " << seed);
    SynthOptions o = small_options("unused", train, test);
    o.seed = uint64_t(seed);
    const auto plan = plan_synth_dataset(o);
    check_split(plan, o);
    for (const SynthVideo& v : plan) {
      std::set<std::string> distinct(v.captions.begin(), v.captions.end());
      CHECK(int(distinct.size()) == o.captions_per_video);
      CHECK(v.video_id == "video" + std::to_string(&v - plan.data()));
    }
  }
  SynthOptions a = small_options("unused"), b = a;
  b.seed = 1;
  const auto pa = plan_synth_dataset(a), pb = plan_synth_dataset(b), pa2 = plan_synth_dataset(a);
  auto combos = [](const std::vector<SynthVideo>& p) {
    std::vector<Key> k;
    for (const auto& v : p) k.push_back(key(v.combo));
    return k;
  };
  CHECK(combos(pa) == combos(pa2));
  CHECK(combos(pa) != combos(pb));
}

TEST_CASE("synth plan: bad options are errors naming the option", "[synth]") {
  auto fails_with = [](SynthOptions o, const std::string& text) {
    INFO("expected an error containing '" << text << "'");
    try {
      plan_synth_dataset(o);
      FAIL("no error");
    } catch (const Error& e) {
      CHECK_THAT(e.what(), Catch::Contains(text));
    }
  };
  const SynthOptions ok = small_options("unused");
  SynthOptions o = ok;
  o.size = 63;
  fails_with(o, "--size");
  o = ok, o.fps = 0;
  fails_with(o, "--fps");
  o = ok, o.seconds = 1;
  fails_with(o, "--seconds");
  o = ok, o.test = 1000;
  fails_with(o, "--test 1000 is too large");
  o = ok, o.train = 2;
  fails_with(o, "--train 2 is too small");
  o = ok, o.out = "";
  fails_with(o, "--out");
}

TEST_CASE("synth: an MSR-VTT dataset our reader reads, videos that show their captions", "[synth]") {
  const fs::path root = xclip::test::temp_dir("synth_small");
  const SynthOptions o = small_options(root);
  fs::create_directories(root / "videos");
  std::ofstream(root / "videos/.video3.mp4.part") << "left by an interrupted run";
  int progress_calls = 0;
  SynthOptions with_progress = o;
  with_progress.progress = [&](const SynthProgress& p) {
    ++progress_calls;
    CHECK(p.total == 30);
  };
  const SynthSummary s = write_synth_dataset(with_progress);
  CHECK(progress_calls == 30);
  CHECK(s.train == 20);
  CHECK(s.test == 10);
  CHECK(s.sentences == 30 * 5);
  CHECK(s.frames_per_video == 32);
  for (const char* f : {"MSRVTT_data.json", "MSRVTT_train.9k.csv", "MSRVTT_JSFUSION_test.csv"})
    CHECK(fs::is_regular_file(root / f));
  uint64_t bytes = 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    CHECK(e.path().extension() != ".part");  // no temporary left behind, the stale one removed
    if (e.is_regular_file()) bytes += e.file_size();
  }
  CHECK(bytes == s.bytes);

  const Dataset train = read_dataset(reader_options(root, "train"));
  CHECK(train.skipped.empty());
  CHECK(train.clips.size() == 20);
  CHECK(train.samples.size() == 100);  // expand_msrvtt_sentences: 5 captions per video
  CHECK(train.clips[0].video_id == "video0");
  CHECK(train.clips[0].path == root / "videos/video0.mp4");
  const Dataset train_once = read_dataset(reader_options(root, "train", false));
  REQUIRE(train_once.samples.size() == 20);
  CHECK(train_once.samples[0].captions.size() == 5);
  const Dataset test = read_dataset(reader_options(root, "test"));
  CHECK(test.skipped.empty());
  REQUIRE(test.samples.size() == 10);

  // Test captions: distinct, and none of them a caption of a training video (the combination
  // does not occur in training).
  std::set<std::string> train_captions, test_captions;
  for (const Sample& x : train.samples) train_captions.insert(x.captions[0]);
  for (const Sample& x : test.samples) {
    CHECK(test_captions.insert(x.captions[0]).second);
    CHECK_FALSE(train_captions.count(x.captions[0]));
  }
  // The same from the attributes recorded in MSRVTT_data.json, over all phrasings.
  const auto data = xclip::io::read_json_file(root / "MSRVTT_data.json", "annotations");
  std::map<std::string, std::string> split;
  std::set<std::vector<std::string>> train_attrs, test_attrs;
  for (const auto& v : data["videos"]) {
    const auto& a = v["attributes"];
    std::vector<std::string> attrs = {a["colour"], a["shape"], a["motion"], a["background"]};
    split[v["video_id"]] = v["split"];
    (v["split"] == "test" ? test_attrs : train_attrs).insert(attrs);
  }
  CHECK(test_attrs.size() == 10);
  for (const auto& t : test_attrs) CHECK_FALSE(train_attrs.count(t));

  for (const Sample& x : train_once.samples)  // captions[0] is the canonical phrasing (JSON order)
    check_video_shows(train_once.clips[size_t(x.clip)].path, x.captions[0], o);
  for (const Sample& x : test.samples) {
    CHECK(split[test.clips[size_t(x.clip)].video_id] == "test");
    check_video_shows(test.clips[size_t(x.clip)].path, x.captions[0], o);
  }
}

TEST_CASE("synth: the same seed gives byte-identical files, whatever the thread count", "[synth]") {
  const fs::path a = xclip::test::temp_dir("synth_seed_a"), b = xclip::test::temp_dir("synth_seed_b");
  const fs::path c = xclip::test::temp_dir("synth_seed_c");
  SynthOptions oa = small_options(a, 12, 4), ob = oa, oc = oa;
  oa.threads = 1;
  ob.out = b;
  oc.out = c;
  oc.seed = 9;
  write_synth_dataset(oa);
  write_synth_dataset(ob);
  write_synth_dataset(oc);
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(a))
    if (e.is_regular_file()) files.push_back(fs::relative(e.path(), a));
  CHECK(files.size() == 3 + 16);
  for (const fs::path& f : files) {
    INFO(f.string());
    CHECK(file_bytes(a / f) == file_bytes(b / f));
  }
  CHECK(file_bytes(a / "MSRVTT_data.json") != file_bytes(c / "MSRVTT_data.json"));
  CHECK(file_bytes(a / "videos/video0.mp4") != file_bytes(c / "videos/video0.mp4"));
}

TEST_CASE("synth: write_video round trip with each available encoder", "[synth]") {
  const fs::path dir = xclip::test::temp_dir("synth_write_video");
  const int w = 32, h = 16, frames = 6;
  std::vector<uint8_t> rgb(size_t(w * h * 3 * frames));
  const std::array<uint8_t, 3> colours[] = {{200, 30, 30}, {30, 200, 30}, {30, 30, 200}};
  for (int i = 0; i < frames; ++i)
    for (int p = 0; p < w * h; ++p)
      for (int k = 0; k < 3; ++k) rgb[size_t((i * w * h + p) * 3 + k)] = colours[i % 3][size_t(k)];
  std::vector<std::string> codecs = {"auto", "mpeg4"};
  if (resolve_video_encoder("auto") == "libx264") codecs.push_back("libx264");
  for (const std::string& codec : codecs) {
    INFO(codec);
    const fs::path path = dir / ("clip_" + codec + ".mp4");
    write_video(path, rgb, w, h, 3, VideoEncoding{codec, 0, 1});
    FrameSampling s;
    s.feature_framerate = 0;  // every frame
    s.max_frames = 100;
    s.size = h;
    const VideoFrames v = load_video_frames(path.string(), s);
    REQUIRE(v.frames == frames);
    for (int i = 0; i < frames; ++i) {
      const uint8_t* px = v.frame(i) + 3 * (size_t(h / 2) * size_t(h) + size_t(h / 2));
      check_close({px[0], px[1], px[2]}, colours[i % 3], 12);
    }
    data::VideoDecoder dec(path.string(), 1);
    CHECK(dec.facts().width == w);
    CHECK(dec.facts().height == h);
    CHECK(dec.facts().guessed_fps == Approx(3.0));
  }
}

TEST_CASE("synth: clear errors for bad arguments and unwritable places", "[synth]") {
  const fs::path dir = xclip::test::temp_dir("synth_errors");
  std::vector<uint8_t> rgb(16 * 16 * 3, 0);
  CHECK_THROWS_WITH(write_video(dir / "odd.mp4", rgb.data(), 1, 15, 16, 4), Catch::Contains("odd.mp4") &&
                                                                                Catch::Contains("even"));
  CHECK_THROWS_WITH(write_video(dir / "x.mp4", rgb, 16, 16, 4, VideoEncoding{"no_such_codec", 0, 1}),
                    Catch::Contains("no_such_codec"));
  // The encoder's constructor throws after every FFmpeg context exists: under make test-sanitize
  // LeakSanitizer fails this line if any of them is not freed (issue 18).
  CHECK_THROWS_WITH(write_video(dir / "missing/x.mp4", rgb, 16, 16, 4), Catch::Contains("missing/x.mp4"));
  CHECK_THROWS_WITH(write_video(dir / "x.unknownext", rgb, 16, 16, 4), Catch::Contains("x.unknownext"));
  CHECK_THROWS_WITH(write_video(dir / "short.mp4", std::vector<uint8_t>(100), 16, 16, 4),
                    Catch::Contains("whole number"));
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 0);  // nothing half-written

  std::ofstream(dir / "a_file") << "x";
  CHECK_THROWS_WITH(write_synth_dataset(small_options(dir / "a_file/out")),
                    Catch::Contains("a_file/out") && Catch::Contains("cannot create the output folder"));
}
