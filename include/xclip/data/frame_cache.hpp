// A frame cache: every clip of a dataset decoded once into uint8 RGB crops (after resize + centre
// crop, before normalisation), memory-mapped for training and evaluation.
//
// On disk, a folder:
//   manifest.json  format/version, the sampling options (max_frames, size, slice_framepos,
//                  feature_framerate, rule), the dataset it came from, the clip list
//                  ({key, video_id, path, start, end}) and, once finished, the failures;
//   frames.u8      [clips, max_frames, size, size, 3] uint8, padding slots zero;
//   masks.u8       [clips, max_frames] uint8, 1 for real frames;
//   status.u8      [clips] 0 pending, 1 done, 2 failed (what a resumed extraction looks at).
// Frame order (frame_order 0/1/2) is applied when reading, so one cache serves every order.
//
// extract_frame_cache() writes into OUT.partial/ and renames it to OUT/ at the end (atomic: a
// folder named OUT is always complete). Interrupted, the next run with the same dataset and
// sampling resumes from OUT.partial/ and only decodes what is not marked done; statuses are
// written after the frames they describe have been flushed, so a crash never leaves a clip
// marked done with missing frames.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "xclip/data/dataset.hpp"
#include "xclip/data/video.hpp"

namespace xclip::data {

class FrameCache {
 public:
  // Opens a finished cache; errors name the folder and the problem (missing file, wrong size,
  // unfinished extraction).
  static std::shared_ptr<const FrameCache> open(const std::filesystem::path& dir);
  ~FrameCache();
  FrameCache(const FrameCache&) = delete;
  FrameCache& operator=(const FrameCache&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  int max_frames() const { return max_frames_; }
  int size() const { return size_; }
  int64_t clip_count() const { return int64_t(keys_.size()); }
  size_t frame_bytes() const { return size_t(size_) * size_t(size_) * 3; }
  size_t record_bytes() const { return frame_bytes() * size_t(max_frames_); }
  const nlohmann::json& manifest() const { return manifest_; }

  // Index of a clip by clip_key(); nullopt when the cache does not hold it.
  std::optional<int64_t> find(const std::string& key) const;
  const std::string& key(int64_t clip) const { return keys_.at(size_t(clip)); }

  struct ClipView {
    const uint8_t* rgb = nullptr;   // [max_frames, size, size, 3], a view into the mapping
    const uint8_t* mask = nullptr;  // [max_frames]
    int frames = 0;                 // real frames
    bool failed = false;            // the video could not be decoded at extraction
  };
  ClipView clip(int64_t index) const;
  std::string failure_reason(int64_t index) const;  // "" unless failed

  // Throws naming the option when a loader asks for frames this cache does not hold
  // (max_frames, size, slice_framepos, feature_framerate, rule must match; frame_order may differ).
  void check_compatible(const FrameSampling& sampling) const;

  // Copies clips into a contiguous batch: rgb [n, max_frames, size, size, 3], mask [n, max_frames].
  // Uses up to `threads` threads (memory bandwidth bound; 1 = the calling thread only).
  void gather(const std::vector<int64_t>& clips, uint8_t* rgb, uint8_t* mask, int threads = 1) const;

 private:
  FrameCache() = default;
  std::filesystem::path dir_;
  nlohmann::json manifest_;
  int max_frames_ = 0, size_ = 0;
  std::vector<std::string> keys_;
  std::unordered_map<std::string, int64_t> index_;
  std::unordered_map<int64_t, std::string> failures_;
  struct Mapping;
  std::unique_ptr<Mapping> frames_, masks_, status_;
};

// ---- writing --------------------------------------------------------------------------------

// The sampling options a cache records (and the loader must match).
nlohmann::json sampling_to_json(const FrameSampling& sampling);

struct ExtractProgress {
  int64_t total = 0;         // clips in the dataset
  int64_t done = 0;          // finished (including those done before a resume)
  int64_t done_before = 0;   // already done when this run started
  int64_t failed = 0;
  double seconds = 0;        // since this run started
  double clips_per_second = 0;
  double eta_seconds = 0;
  std::string line() const;  // "1234/9000 clips (13.7%), 42.1 clips/s, ETA 3m05s, 2 failed"
  // Sets `seconds` and the rate and ETA that follow from it and the counts (also used by check).
  void set_elapsed(double seconds);
};

struct ExtractOptions {
  std::filesystem::path out;    // the cache folder to create
  FrameSampling sampling;       // frame_order is ignored (applied when reading)
  int threads = 2;              // videos decoded at once (each with sampling.decode_threads)
  bool strict = false;          // the first unreadable video stops the extraction (resumable)
  int64_t stop_after = -1;      // stop (unfinished, resumable) after this many clips: tests, time boxes
  double progress_interval_s = 0.5;
  std::function<void(const ExtractProgress&)> on_progress;   // called from one thread at a time
  std::function<void(const VideoProblem&)> on_video_problem;  // default: nothing (see the report)
};

struct ExtractReport {
  bool already_complete = false;  // OUT existed and matched: nothing was done
  bool finished = false;          // OUT now exists (false after stop_after)
  int64_t clips = 0, done_before = 0, extracted = 0, failed = 0;
  double seconds = 0;
  std::vector<VideoProblem> problems;
  std::string summary() const;
};

ExtractReport extract_frame_cache(const Dataset& dataset, const ExtractOptions& options);

}  // namespace xclip::data
