// Reading every clip once to classify it (see video_check.hpp).
#include "xclip/data/video_check.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "xclip/core/error.hpp"
#include "xclip/data/loader.hpp"

namespace fs = std::filesystem;

namespace xclip::data {
namespace {

using Clock = std::chrono::steady_clock;
using Kind = VideoProblem::Kind;

VideoProblem problem_of(const Clip& clip, Kind kind, std::string reason) {
  return VideoProblem{clip.video_id, clip.path.string(), std::move(reason), kind};
}

// A decoding error: a file of zero bytes is empty, a file that is not there is missing, anything
// else cannot be read.
Kind kind_of_error(const Clip& clip) {
  std::error_code ec;
  if (!fs::exists(clip.path, ec)) return Kind::missing;
  const auto bytes = fs::file_size(clip.path, ec);
  return !ec && bytes == 0 ? Kind::empty : Kind::unreadable;
}

}  // namespace

VideoCheck check_clip(const Clip& clip, const FrameSampling& sampling) {
  VideoCheck c;
  VideoFrames v;
  try {
    v = decode_clip(clip, sampling);
  } catch (const std::exception& e) {
    c.problem = problem_of(clip, kind_of_error(clip), e.what());
    return c;
  }
  c.frames = v.frames;
  c.sampled = v.sampled;
  c.promised = v.promised;
  if (v.frames == 0 && v.promised == 0) {
    c.problem = problem_of(clip, Kind::empty,
                           format(clip.path.string(), ": no frame to sample (a run would get an all-zero video)"));
  } else if (v.frames == 0) {
    c.problem = problem_of(clip, Kind::unreadable,
                           format(clip.path.string(), ": the first sampled read fails (the container promises ",
                                  v.promised, " frames; damaged data at the start)"));
  } else if (v.sampled < v.promised && v.damaged) {
    // Without damage a shorter video is the container's estimate being off (a variable frame
    // rate): the original reads the same frames.
    c.problem = problem_of(clip, Kind::partial,
                           format(clip.path.string(), ": a sampled read fails part-way: ", v.sampled, " of the ",
                                  v.promised, " frames the container promises (damaged data)"));
  }
  return c;
}

std::vector<VideoCheck> check_clips(const std::vector<Clip>& clips, const CheckOptions& options) {
  XCLIP_CHECK(options.threads >= 1, "check: threads must be >= 1, got ", options.threads);
  std::vector<VideoCheck> results(clips.size());
  std::atomic<size_t> next{0};
  std::mutex mutex;  // progress and the callbacks
  ExtractProgress progress;
  progress.total = int64_t(clips.size());
  const Clock::time_point started = Clock::now();
  Clock::time_point last_report = started;
  auto worker = [&] {
    for (size_t i = next++; i < clips.size(); i = next++) {
      VideoCheck c = check_clip(clips[i], options.sampling);
      std::lock_guard<std::mutex> lock(mutex);
      ++progress.done;
      if (!c.ok()) {
        ++progress.failed;
        if (options.on_problem) options.on_problem(*c.problem);
      }
      results[i] = std::move(c);
      const Clock::time_point now = Clock::now();
      progress.set_elapsed(std::chrono::duration<double>(now - started).count());
      const bool last = progress.done == progress.total;
      if (options.on_progress && (last || std::chrono::duration<double>(now - last_report).count() >=
                                              options.progress_interval_s)) {
        last_report = now;
        options.on_progress(progress);
      }
    }
  };
  std::vector<std::thread> threads;
  const size_t n = std::min(size_t(options.threads), std::max<size_t>(clips.size(), 1));
  for (size_t t = 0; t < n; ++t) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();
  return results;
}

}  // namespace xclip::data
