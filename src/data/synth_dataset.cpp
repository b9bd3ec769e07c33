// write_synth_dataset: renders and encodes the planned videos on a few threads, then writes the
// MSR-VTT annotation files (last, so a folder with MSRVTT_data.json is complete).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <fstream>
#include <mutex>
#include <system_error>
#include <thread>

#include <nlohmann/json.hpp>

#include "xclip/core/error.hpp"
#include "xclip/data/synth.hpp"
#include "xclip/io/file_bytes.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace xclip::data {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Atomic (temporary name, then rename): an interrupted run leaves no half-written file under a
// final name. Returns the bytes written.
uint64_t write_text_atomic(const fs::path& path, const std::string& text) {
  io::write_text_file_atomically(path, text);
  return text.size();
}

// Creates out/ and out/videos/, checks they take files, and removes temporaries an interrupted
// earlier run left behind (hidden names ending in ".part", as io names its temporary files).
void prepare_output(const fs::path& out) {
  std::error_code ec;
  fs::create_directories(out / "videos", ec);
  XCLIP_CHECK(!ec, out.string(), ": cannot create the output folder (", ec.message(), ")");
  for (const fs::path& dir : {out, out / "videos"}) {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.size() > 6 && name.front() == '.' && name.ends_with(".part")) fs::remove(entry.path(), ec);
    }
    const fs::path probe = dir / ".synth-probe.part";
    std::ofstream(probe) << "probe";
    const bool writable = fs::is_regular_file(probe, ec) && fs::file_size(probe, ec) == 5;
    fs::remove(probe, ec);
    XCLIP_CHECK(writable, dir.string(), ": folder is not writable");
  }
}

// Renders + encodes every video; `threads` workers take the next video from a shared counter.
uint64_t encode_videos(const std::vector<SynthVideo>& videos, const SynthOptions& o, const std::string& codec,
                       Clock::time_point start) {
  const VideoEncoding enc{codec, 0, 1};
  unsigned threads = o.threads > 0 ? unsigned(o.threads) : std::max(1u, std::thread::hardware_concurrency());
  threads = std::min<unsigned>(threads, unsigned(videos.size()));
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;  // guards `error`, `done` and the progress callback
  std::exception_ptr error;
  int done = 0;
  auto work = [&] {
    while (!failed) {
      const size_t i = next++;
      if (i >= videos.size()) return;
      try {
        const fs::path path = o.out / "videos" / (videos[i].video_id + ".mp4");
        write_video(path, render_synth_video(videos[i], o), o.size, o.size, o.fps, enc);
        bytes += fs::file_size(path);
        std::lock_guard<std::mutex> lock(mutex);
        ++done;
        if (o.progress) o.progress(SynthProgress{done, int(videos.size()), seconds_since(start)});
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  return bytes;
}

json data_json(const std::vector<SynthVideo>& videos, const SynthOptions& o, const std::string& codec,
               int64_t* sentences_out) {
  json info = {{"description", "synthetic shapes: colour, shape, motion and background; test combinations are "
                               "held out of training"},
               {"generator", "xclip-cli synth"}, {"seed", o.seed},   {"size", o.size},
               {"fps", o.fps},                   {"seconds", o.seconds}, {"codec", codec},
               {"train", o.train},               {"test", o.test}};
  json list = json::array(), sentences = json::array();
  for (size_t i = 0; i < videos.size(); ++i) {
    const SynthVideo& v = videos[i];
    list.push_back({{"video_id", v.video_id},
                    {"id", i},
                    {"category", 0},
                    {"url", ""},
                    {"start time", 0.0},
                    {"end time", double(o.seconds)},
                    {"split", v.test ? "test" : "train"},
                    {"attributes",
                     {{"colour", synth_colour_names()[size_t(v.combo.colour)]},
                      {"shape", synth_shape_names()[size_t(v.combo.shape)]},
                      {"motion", synth_motion_names()[size_t(v.combo.motion)]},
                      {"background", synth_background_names()[size_t(v.combo.background)]}}}});
    for (const std::string& caption : v.captions)
      sentences.push_back({{"caption", caption}, {"video_id", v.video_id}, {"sen_id", sentences.size()}});
  }
  *sentences_out = int64_t(sentences.size());
  return {{"info", info}, {"videos", list}, {"sentences", sentences}};
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

uint64_t write_annotations(const std::vector<SynthVideo>& videos, const SynthOptions& o, const std::string& codec,
                           int64_t* sentences) {
  std::string train = "video_id\n", test = "key,vid_key,video_id,sentence\n";
  int test_row = 0;
  for (size_t i = 0; i < videos.size(); ++i) {
    const SynthVideo& v = videos[i];
    if (!v.test) {
      train += v.video_id + "\n";
      continue;
    }
    // The 1k-A csv's keys: "ret<row>" and "msr<video number>".
    test += format("ret", test_row++, ",msr", i, ",", v.video_id, ",", csv_field(v.captions[0]), "\n");
  }
  uint64_t bytes = write_text_atomic(o.out / "MSRVTT_train.9k.csv", train);
  bytes += write_text_atomic(o.out / "MSRVTT_JSFUSION_test.csv", test);
  bytes += write_text_atomic(o.out / "MSRVTT_data.json", data_json(videos, o, codec, sentences).dump(1) + "\n");
  return bytes;
}

}  // namespace

SynthSummary write_synth_dataset(const SynthOptions& o) {
  const Clock::time_point start = Clock::now();
  const std::vector<SynthVideo> videos = plan_synth_dataset(o);
  SynthSummary s;
  s.codec = resolve_video_encoder(o.codec);
  prepare_output(o.out);
  s.bytes = encode_videos(videos, o, s.codec, start);
  s.bytes += write_annotations(videos, o, s.codec, &s.sentences);
  s.train = o.train;
  s.test = int(std::count_if(videos.begin(), videos.end(), [](const SynthVideo& v) { return v.test; }));
  s.frames_per_video = o.fps * o.seconds;
  s.seconds = seconds_since(start);
  return s;
}

}  // namespace xclip::data
