// The list of training videos a run leaves out, kept in OUTPUT_DIR/skipped_videos.txt: missing
// ones (known when the dataset is read) and undecodable ones (known only when the loader first
// decodes them, any time during training). One line per video, tab-separated:
//
//   # video_id	file	reason
//   video17	/data/msrvtt/videos/video17.mp4	.../video17.mp4: no video frame could be decoded
//
// The file is rewritten atomically (a temporary file, then a rename) whenever a new video is added,
// so it is always complete up to the last video found, and a resumed run starts from the entries
// the earlier run wrote: nothing found before is lost.
#pragma once
#include <cstddef>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "xclip/data/dataset.hpp"

namespace xclip::data {

// Reads a skipped-videos file; an absent file is an empty list. Errors name the file and line.
std::vector<VideoProblem> read_skipped_videos(const std::filesystem::path& file);

class SkippedVideoLog {
 public:
  // Starts from the entries `file` already holds (a resumed run); the folder is created if needed.
  explicit SkippedVideoLog(std::filesystem::path file);

  // Adds the videos not listed yet (same id and file) and rewrites the file when any was new.
  // Thread-safe (the loader's workers report from their threads). Returns how many were new.
  size_t add(const std::vector<VideoProblem>& problems);
  size_t size() const;
  std::vector<VideoProblem> entries() const;
  const std::filesystem::path& file() const { return file_; }

 private:
  void write_locked() const;

  std::filesystem::path file_;
  mutable std::mutex mutex_;
  std::vector<VideoProblem> entries_;
  std::set<std::pair<std::string, std::string>> listed_;  // (video_id, file)
};

}  // namespace xclip::data
