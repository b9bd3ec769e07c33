// A search index: what `xclip-cli index` writes and `xclip-cli search` / `export` read. One folder:
//   index.json           format, the model (path, kind, model_config.json contents, weights size and
//                        mtime) and the preprocessing (max_frames, slice_framepos, frame rule, size)
//   features.safetensors the head's video side of every video, rows in videos.json order:
//                          video  [V, D]     the video-sentence embedding (L2-normalised)
//                          frames [V, N, D]  the frame features the fine-grained terms read (L2-normalised)
//                          mask   [V, N]     1 for a real frame (i64)
//                        f32, or f16 with --half (read back as f32)
//   videos.json          {"videos": [{id, path, size, mtime, duration, fps, frames, times, thumbnail,
//                        frame_strip}], "failed": [{id, path, size, mtime, reason}]}
//   thumbs/              a JPEG thumbnail per video (its middle sampled frame) and a strip of its
//                        sampled frames (the HTML page's heat-map axis)
// The video side is what the similarity head computes from the CLIP frame features before it
// meets a text (the temporal encoder included), so a search runs only the text tower and the
// head's contrasts: the same functions `eval` runs (search/score.hpp).
// Written atomically as a folder: a staging folder beside it, then swapped in (write_index).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "xclip/core/tensor.hpp"

namespace xclip::search {

inline constexpr const char* kIndexFormat = "xclip-search-index";
inline constexpr int kIndexVersion = 1;

struct VideoRecord {
  std::string id;        // the file name relative to the indexed folder
  std::string path;      // the file as it was indexed
  uint64_t size = 0;     // bytes; with mtime, what decides that a file changed
  int64_t mtime = 0;     // last write time, nanoseconds since the epoch
  double duration = 0;   // seconds (container duration)
  double fps = 0;
  int frames = 0;        // real frames among the N slots
  std::vector<double> times;  // the sampled frames' times (s)
  std::string thumbnail;      // relative to the index folder
  std::string frame_strip;    // relative to the index folder: the sampled frames side by side
};

struct FailedVideo {
  std::string id, path;
  uint64_t size = 0;
  int64_t mtime = 0;
  std::string reason;
};

// The head's video side of V videos (models/heads/xclip_head.hpp VideoSide), f32 on the CPU.
struct VideoSides {
  Tensor video;   // [V, D]
  Tensor frames;  // [V, N, D]
  Tensor mask;    // [V, N] i64
  int64_t count() const { return video.defined() ? video.dim(0) : 0; }
};

struct SearchIndex {
  nlohmann::json manifest;  // index.json: {"format", "version", "model": {...}, "preprocessing": {...}, "dtype"}
  std::vector<VideoRecord> videos;
  std::vector<FailedVideo> failed;
  VideoSides features;
};

// Reads an index folder; throws naming the folder and the file that is missing or inconsistent.
SearchIndex read_index(const std::filesystem::path& dir);
// Whether `dir` holds an index (its index.json).
bool is_index(const std::filesystem::path& dir);

// Writes `index` as the folder `dir`: everything goes to a staging folder beside it (thumbnails
// copied from `thumbs_from` (the previous index) when a record's file is not in the staging
// folder yet), then the old folder is moved aside, the new one renamed into place, the old one
// removed. `half` stores the features as f16. The staging folder must already hold the new
// thumbnails: staging_dir(dir) names it.
void write_index(const std::filesystem::path& dir, const SearchIndex& index, bool half,
                 const std::filesystem::path& thumbs_from = {});
std::filesystem::path staging_dir(const std::filesystem::path& dir);
// Finishes a swap that a crash interrupted (DIR missing, DIR.old present): puts DIR.old back.
void recover_interrupted_swap(const std::filesystem::path& dir);

// A file name for a video's thumbnails that is safe whatever the id holds: thumbs/<hash>.jpg and
// thumbs/<hash>.frames.jpg.
std::string thumbnail_name(const std::string& id);
std::string frame_strip_name(const std::string& id);

// Rows `rows` of `sides` (in that order), for the incremental update.
VideoSides select_videos(const VideoSides& sides, const std::vector<int64_t>& rows);
// Rows of several sets one after the other (undefined parts skipped).
VideoSides concat_videos(const std::vector<VideoSides>& parts);

// JSON of the records (videos.json's layout) and back.
nlohmann::json videos_to_json(const std::vector<VideoRecord>& videos, const std::vector<FailedVideo>& failed);
void videos_from_json(const nlohmann::json& j, std::vector<VideoRecord>* videos, std::vector<FailedVideo>* failed);

}  // namespace xclip::search
