// The model of a search index (xclip-cli index / search): built once from the command line's
// MODEL, described in the index's index.json, rebuilt from that description by `search`.
//   MODEL a folder written by `train` (model.safetensors + model_config.json, or its best/),
//         a weights file with model_config.json beside it or given by --config: that model;
//         a plain CLIP checkpoint (OpenAI .pt, Hugging Face, safetensors) with no config: zero-shot
//         CLIP retrieval, the CLIP4Clip meanP head (mean-pooled frames, video-sentence similarity).
#pragma once
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "xclip/models/model.hpp"

namespace xclip::cli {

struct SearchModelOptions {
  std::string model;                   // MODEL as given
  std::optional<std::string> config;   // --config model_config.json
  int64_t max_frames = 0;              // 0: the model's (zero-shot CLIP: 12)
  int64_t max_words = 0;               // 0: the model's (zero-shot CLIP: 32)
};

struct SearchModel {
  std::unique_ptr<models::RetrievalModel> model;
  // {"weights", "kind": "model" | "clip_zero_shot", "config": {"clip", "xclip"}, "size", "mtime"}
  nlohmann::json description;
};

SearchModel load_search_model(const SearchModelOptions& options);
// The model an index was made with; throws when its weights file is gone or changed since.
SearchModel rebuild_search_model(const nlohmann::json& description, const std::filesystem::path& index_dir);

// A file's size and last write time (ns since the epoch): what tells that a file changed.
struct FileStamp {
  uint64_t size = 0;
  int64_t mtime = 0;
};
FileStamp file_stamp(const std::filesystem::path& path);

// Seconds since `start` (the commands' progress lines and timings).
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace xclip::cli
