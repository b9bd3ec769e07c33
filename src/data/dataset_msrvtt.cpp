// MSR-VTT (dataloader_msrvtt_retrieval.py): MSRVTT_data.json + MSRVTT_train.9k.csv for training,
// MSRVTT_JSFUSION_test.csv (the 1k-A split, one caption per video) for val and test.
#include <set>
#include <unordered_map>

#include "xclip/core/error.hpp"
#include "xclip/data/csv.hpp"
#include "xclip/data/dataset_readers.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace xclip::data {

namespace {

// --data_path may be the folder or MSRVTT_data.json itself (the original passes the json).
fs::path annotation_folder(const fs::path& data_path) {
  std::error_code ec;
  if (fs::is_regular_file(data_path, ec)) return data_path.parent_path();
  return data_path;
}

fs::path data_json_path(const fs::path& data_path) {
  std::error_code ec;
  if (fs::is_regular_file(data_path, ec)) return data_path;
  return data_path / "MSRVTT_data.json";
}

// video_id -> captions in JSON order, from data["sentences"].
std::unordered_map<std::string, std::vector<std::string>> captions_by_video(const json& data, const fs::path& file,
                                                                            std::vector<std::pair<std::string, std::string>>* in_order) {
  const std::string name = file.string();
  const json& sentences = detail::json_member(data, "sentences", json::value_t::array, name);
  std::unordered_map<std::string, std::vector<std::string>> by_video;
  for (size_t i = 0; i < sentences.size(); ++i) {
    std::string where = format(name, ": sentences[", i, "]");
    const auto& id = detail::json_member(sentences[i], "video_id", json::value_t::string, where);
    const auto& caption = detail::json_member(sentences[i], "caption", json::value_t::string, where);
    by_video[id.get<std::string>()].push_back(caption.get<std::string>());
    if (in_order) in_order->emplace_back(id.get<std::string>(), caption.get<std::string>());
  }
  return by_video;
}

Dataset read_train(const DatasetOptions& options, const detail::VideoIndex& index) {
  fs::path csv_path = options.train_csv.empty() ? annotation_folder(options.data_path) / "MSRVTT_train.9k.csv"
                                                : options.train_csv;
  CsvTable csv = read_csv(csv_path);
  const size_t id_column = csv.column("video_id");
  fs::path json_path = data_json_path(options.data_path);
  json data = detail::read_json_file(json_path);
  std::vector<std::pair<std::string, std::string>> sentences;
  auto by_video = captions_by_video(data, json_path, &sentences);

  detail::DatasetBuilder builder(options, index);
  if (options.expand_msrvtt_sentences) {
    // Every sentence of a listed video, in JSON order (the original's unfold_sentences).
    std::set<std::string> train_ids;
    for (const auto& row : csv.rows) train_ids.insert(row[id_column]);
    for (const auto& row : csv.rows) builder.clip(row[id_column]);  // clip order = csv order
    for (const auto& [video_id, caption] : sentences) {
      if (!train_ids.count(video_id)) continue;
      int64_t clip = builder.clip(video_id);
      if (clip >= 0) builder.add_sample(clip, {caption});
    }
    return builder.finish(false, "expand_msrvtt_sentences");
  }
  // One sample per csv row; its caption is drawn at random each epoch from the video's captions.
  for (size_t r = 0; r < csv.rows.size(); ++r) {
    const std::string& video_id = csv.rows[r][id_column];
    auto it = by_video.find(video_id);
    XCLIP_CHECK(it != by_video.end(), csv.where(r), ": video '", video_id, "' has no caption in ",
                json_path.string());
    int64_t clip = builder.clip(video_id);
    if (clip >= 0) builder.add_sample(clip, it->second);
  }
  return builder.finish(false, "one random caption per video per epoch");
}

Dataset read_test(const DatasetOptions& options, const detail::VideoIndex& index) {
  fs::path csv_path = options.val_csv.empty() ? annotation_folder(options.data_path) / "MSRVTT_JSFUSION_test.csv"
                                              : options.val_csv;
  CsvTable csv = read_csv(csv_path);
  const size_t id_column = csv.column("video_id");
  const size_t sentence_column = csv.column("sentence");
  detail::DatasetBuilder builder(options, index);
  for (const auto& row : csv.rows) {
    int64_t clip = builder.clip(row[id_column]);
    if (clip >= 0) builder.add_sample(clip, {row[sentence_column]});
  }
  return builder.finish(false, "1k-A test");
}

}  // namespace

Dataset read_msrvtt(const DatasetOptions& options) {
  detail::VideoIndex index(options.features_path);
  if (options.split == "train") return read_train(options, index);
  return read_test(options, index);  // the original has no separate test loader: val = test
}

}  // namespace xclip::data
