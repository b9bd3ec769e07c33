// xclip-cli index: a searchable index of a folder of videos (search/index.hpp). Each video is
// decoded with the model's frame rule and preprocessing, encoded by the CLIP image tower, and
// reduced to the similarity head's video side; a re-run decodes only new or changed files and drops
// deleted ones. Decoding runs on --threads threads, a batch at a time, then the batch is encoded.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "../args.hpp"
#include "../command.hpp"
#include "../search_model.hpp"
#include "xclip/autograd.hpp"
#include "xclip/core/error.hpp"
#include "xclip/data/thumbnail.hpp"
#include "xclip/data/video.hpp"
#include "xclip/data/video_decoder.hpp"
#include "xclip/search/index.hpp"
#include "xclip/search/score.hpp"

namespace xclip::cli {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "usage: xclip-cli index --model MODEL --videos DIR --out INDEX [options]\n"
    "Decodes and encodes every video of DIR (sub-folders included) into the search index INDEX; run again\n"
    "to add new or changed files and drop deleted ones. MODEL: a folder `train` wrote, a weights file with\n"
    "model_config.json beside it (or --config), or a plain CLIP checkpoint (zero-shot, CLIP4Clip meanP).\n"
    "  --ids FILE            index only these files of DIR (one file name per line)\n"
    "  --config FILE         the model_config.json of a weights file\n"
    "  --max_frames N        frames per video (default: the model's; zero-shot CLIP 12)\n"
    "  --max_words N         query length in tokens (default: the model's; zero-shot CLIP 32)\n"
    "  --slice_framepos K    0 first, 1 last, 2 uniform frames when a video has more (default 2)\n"
    "  --feature_framerate R sampled frames per second (default 1)\n"
    "  --threads N           decoding threads (default 2)\n"
    "  --batch N             videos encoded together (default 8)\n"
    "  --half                store the features as f16\n";

const std::set<std::string> kVideoExtensions = {".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v",
                                                 ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts"};

struct Candidate {
  std::string id;
  fs::path path;
  FileStamp stamp;
  std::string missing;  // why the file cannot be read, when it cannot
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

// The files to index, sorted by id: --ids, else every video file under DIR.
std::vector<Candidate> list_videos(const fs::path& dir, const std::optional<std::string>& ids_file) {
  XCLIP_CHECK(fs::is_directory(dir), "--videos ", dir.string(), ": no such folder");
  std::vector<std::string> ids;
  if (ids_file) {
    std::ifstream in(*ids_file);
    XCLIP_CHECK(in, "--ids ", *ids_file, ": cannot open");
    for (std::string line; std::getline(in, line);) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (!line.empty()) ids.push_back(line);
    }
  } else {
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file() && kVideoExtensions.count(lower(e.path().extension().string())))
        ids.push_back(e.path().lexically_relative(dir).generic_string());
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::vector<Candidate> out;
  for (const std::string& id : ids) {
    Candidate c{id, fs::absolute(dir / id).lexically_normal(), {}, {}};
    if (fs::is_regular_file(c.path)) c.stamp = file_stamp(c.path);
    else c.missing = c.path.string() + ": no such file";
    out.push_back(std::move(c));
  }
  return out;
}

struct Decoded {
  data::VideoFrames frames;
  search::VideoRecord record;
  std::string error;
};

Decoded decode_one(const Candidate& c, const data::FrameSampling& s, const fs::path& stage) {
  Decoded d;
  d.record.id = c.id;
  d.record.path = c.path.string();
  d.record.size = c.stamp.size;
  d.record.mtime = c.stamp.mtime;
  try {
    XCLIP_CHECK(c.missing.empty(), c.missing);
    d.frames = data::load_video_frames(c.path.string(), s);
    XCLIP_CHECK(d.frames.frames > 0, c.path.string(), ": no frame could be sampled");
    {
      data::VideoDecoder probe(c.path.string(), 1);
      const data::StreamFacts& f = probe.facts();
      d.record.fps = f.guessed_fps > 0 ? f.guessed_fps : f.avg_fps;
      d.record.duration = f.container_duration_sec > 0 ? f.container_duration_sec : f.stream_duration_sec;
    }
    d.record.frames = d.frames.frames;
    d.record.times = d.frames.seconds;
    d.record.thumbnail = search::thumbnail_name(c.id);
    d.record.frame_strip = search::frame_strip_name(c.id);
    data::write_video_thumbnails(d.frames, stage / d.record.thumbnail, stage / d.record.frame_strip);
  } catch (const std::exception& e) {
    d.error = e.what();
  }
  return d;
}

// Decodes `batch` on `threads` threads (each video on one thread).
std::vector<Decoded> decode_batch(const std::vector<const Candidate*>& batch, const data::FrameSampling& s,
                                  const fs::path& stage, int threads) {
  std::vector<Decoded> out(batch.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < batch.size();) out[i] = decode_one(*batch[i], s, stage);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::min<int>(threads, int(batch.size())); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return out;
}

// The CLIP features of decoded videos, reduced to the head's video sides.
search::VideoSides encode_batch(const models::RetrievalModel& model, const std::vector<const data::VideoFrames*>& v,
                                int max_frames) {
  NoGradGuard no_grad;
  const int64_t B = int64_t(v.size()), R = v[0]->size;
  Tensor video = Tensor::empty(Shape{B, max_frames, 3, R, R});
  Tensor mask = Tensor::empty(Shape{B, max_frames}, DType::i64);
  const size_t per_video = size_t(max_frames) * 3 * size_t(R) * size_t(R);
  for (int64_t b = 0; b < B; ++b) {
    const Tensor f = data::frames_to_tensor(*v[size_t(b)], max_frames);
    std::memcpy(video.data<float>() + size_t(b) * per_video, f.data<float>(), per_video * sizeof(float));
    const Tensor m = data::mask_to_tensor(*v[size_t(b)]);
    std::memcpy(mask.data<int64_t>() + size_t(b) * size_t(max_frames), m.data<int64_t>(),
                size_t(max_frames) * sizeof(int64_t));
  }
  return search::video_sides(model, model.encode_video(video, mask));
}

std::string clock_text(double seconds) {
  const long s = long(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  return buf;
}

struct Plan {
  std::vector<int64_t> kept_rows;              // rows of the previous index kept as they are
  std::vector<search::VideoRecord> kept;       // their records
  std::vector<search::FailedVideo> kept_failed;
  std::vector<const Candidate*> to_encode;  // new or changed videos: decoded and encoded by this run
};

// Unchanged files (same id, size and mtime) keep their rows or their failure; the rest is decoded.
Plan plan_update(const std::vector<Candidate>& candidates, const search::SearchIndex* old) {
  std::map<std::string, size_t> old_rows, old_failed;
  if (old) {
    for (size_t i = 0; i < old->videos.size(); ++i) old_rows[old->videos[i].id] = i;
    for (size_t i = 0; i < old->failed.size(); ++i) old_failed[old->failed[i].id] = i;
  }
  Plan p;
  for (const Candidate& c : candidates) {
    if (auto it = old_rows.find(c.id); it != old_rows.end() && c.missing.empty()) {
      const search::VideoRecord& r = old->videos[it->second];
      if (r.size == c.stamp.size && r.mtime == c.stamp.mtime) {
        p.kept_rows.push_back(int64_t(it->second));
        p.kept.push_back(r);
        continue;
      }
    }
    if (auto it = old_failed.find(c.id); it != old_failed.end() && c.missing.empty()) {
      const search::FailedVideo& f = old->failed[it->second];
      if (f.size == c.stamp.size && f.mtime == c.stamp.mtime) {
        p.kept_failed.push_back(f);
        continue;
      }
    }
    p.to_encode.push_back(&c);
  }
  return p;
}

int run_index(const std::vector<std::string>& argv) {
  Args a(argv, {"model", "config", "videos", "out", "ids", "max_frames", "max_words", "slice_framepos",
                "feature_framerate", "threads", "batch"},
         {"half", "help"});
  if (a.flag("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  XCLIP_CHECK(a.positional().empty(), "index: unexpected argument '", a.positional().at(0), "'\n", kUsage);
  for (const char* required : {"model", "videos", "out"})
    XCLIP_CHECK(a.has(required), "index: --", required, " is required\n", kUsage);
  const int threads = int(a.get_int("threads", 2)), batch = int(a.get_int("batch", 8));
  XCLIP_CHECK(threads >= 1 && batch >= 1, "index: --threads and --batch must be >= 1");
  SearchModel sm = load_search_model({a.get("model", ""), a.get("config"), a.get_int("max_frames", 0),
                                      a.get_int("max_words", 0)});
  const models::RetrievalModel& model = *sm.model;
  data::FrameSampling s;
  s.max_frames = int(model.config().max_frames);
  s.slice_framepos = int(a.get_int("slice_framepos", 2));
  s.feature_framerate = int(a.get_int("feature_framerate", 1));
  s.size = int(model.clip.config().vision.resolution);
  const nlohmann::json preprocessing = {{"max_frames", s.max_frames},
                                        {"slice_framepos", s.slice_framepos},
                                        {"feature_framerate", s.feature_framerate},
                                        {"frame_rule", "opencv_index"},
                                        {"size", s.size},
                                        {"normalisation", "CLIP mean/std"}};
  const fs::path out = a.get("out", ""), videos_dir = a.get("videos", "");
  search::recover_interrupted_swap(out);

  // The previous index, when it was made by the same model and preprocessing.
  std::optional<search::SearchIndex> old;
  if (search::is_index(out)) {
    search::SearchIndex prev = search::read_index(out);
    if (prev.manifest.value("model", nlohmann::json()) == sm.description &&
        prev.manifest.value("preprocessing", nlohmann::json()) == preprocessing)
      old = std::move(prev);
    else
      std::fprintf(stderr, "index: %s was made by another model or preprocessing: indexing every video again\n",
                   out.string().c_str());
  }
  const std::vector<Candidate> candidates = list_videos(videos_dir, a.get("ids"));
  const Plan plan = plan_update(candidates, old ? &*old : nullptr);
  std::fprintf(stderr, "index: %zu videos in %s: %zu unchanged, %zu to decode, %zu dropped\n", candidates.size(),
               videos_dir.string().c_str(), plan.kept.size() + plan.kept_failed.size(), plan.to_encode.size(),
               old ? old->videos.size() + old->failed.size() - plan.kept.size() - plan.kept_failed.size() : 0);

  const fs::path stage = search::staging_dir(out);
  fs::remove_all(stage);  // a previous run's leftovers
  fs::create_directories(stage / "thumbs");
  search::SearchIndex index;
  index.manifest = {{"model", sm.description}, {"preprocessing", preprocessing}};
  index.videos = plan.kept;
  index.failed = plan.kept_failed;
  std::vector<search::VideoSides> parts = {old ? search::select_videos(old->features, plan.kept_rows)
                                               : search::VideoSides{}};
  double decode_s = 0, encode_s = 0;
  const auto start = Clock::now();
  for (size_t i = 0; i < plan.to_encode.size(); i += size_t(batch)) {
    const std::vector<const Candidate*> chunk(plan.to_encode.begin() + std::ptrdiff_t(i),
                                              plan.to_encode.begin() + std::ptrdiff_t(std::min(plan.to_encode.size(), i + size_t(batch))));
    auto t0 = Clock::now();
    std::vector<Decoded> decoded = decode_batch(chunk, s, stage, threads);
    decode_s += seconds_since(t0);
    std::vector<const data::VideoFrames*> ok;
    for (Decoded& d : decoded) {
      if (!d.error.empty()) {
        std::fprintf(stderr, "index: skipped %s: %s\n", d.record.id.c_str(), d.error.c_str());
        index.failed.push_back({d.record.id, d.record.path, d.record.size, d.record.mtime, d.error});
        continue;
      }
      ok.push_back(&d.frames);
      index.videos.push_back(d.record);
    }
    t0 = Clock::now();
    if (!ok.empty()) parts.push_back(encode_batch(model, ok, s.max_frames));
    encode_s += seconds_since(t0);
    const size_t done = std::min(plan.to_encode.size(), i + size_t(batch));
    const double elapsed = seconds_since(start), rate = double(done) / std::max(elapsed, 1e-9);
    std::fprintf(stderr, "\rindex: %zu/%zu videos, %.2f videos/s (decode %.1f s, encode %.1f s), ETA %s   ", done,
                 plan.to_encode.size(), rate, decode_s, encode_s,
                 clock_text(double(plan.to_encode.size() - done) / std::max(rate, 1e-9)).c_str());
    std::fflush(stderr);
  }
  if (!plan.to_encode.empty()) std::fprintf(stderr, "\n");
  index.features = search::concat_videos(parts);
  index.manifest["timing"] = {{"decoded", plan.to_encode.size()}, {"decode_seconds", decode_s},
                              {"encode_seconds", encode_s}, {"threads", threads}, {"omp_threads", omp_get_max_threads()}};
  search::write_index(out, index, a.flag("half"), old ? out : fs::path());
  std::printf("index: %s: %zu videos (%zu new), %zu failed; decode %.2f s, encode %.2f s\n", out.string().c_str(),
              index.videos.size(), index.videos.size() - plan.kept.size(), index.failed.size(), decode_s, encode_s);
  for (const search::FailedVideo& f : index.failed) std::printf("  failed: %s: %s\n", f.id.c_str(), f.reason.c_str());
  return 0;
}

const CommandRegistrar kRegister{
    Command{"index", "decode and encode a folder of videos into a search index (see search, export)", run_index}};

}  // namespace
}  // namespace xclip::cli
