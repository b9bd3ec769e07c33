// ActivityNet Captions (dataloader_activitynet_retrieval.py): train_ids.json / val_ids.json list the
// videos ("v_" + YouTube id), train.json / val_1.json hold {duration, timestamps, sentences}. The
// original retrieves paragraphs: all sentences joined with " " over [0, ceil(duration)]. There is no
// test split; test reads val_1 like the original.
#include <cmath>
#include <set>

#include "xclip/io/json_file.hpp"
#include "xclip/core/error.hpp"
#include "xclip/data/dataset_readers.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace xclip::data {

namespace {

// The file name of a video is its id without the leading "v_" (the original drops 2 characters).
std::string file_id(const std::string& pseudo_id) { return pseudo_id.size() >= 2 ? pseudo_id.substr(2) : ""; }

std::vector<std::string> read_ids(const fs::path& path) {
  json ids = detail::read_json_file(path);
  XCLIP_CHECK(ids.is_array(), path.string(), ": expected a list of video ids");
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (size_t i = 0; i < ids.size(); ++i) {
    XCLIP_CHECK(ids[i].is_string(), path.string(), ": [", i, "] should be a string, got ", io::json_excerpt(ids[i], 80));
    if (seen.insert(ids[i].get<std::string>()).second) out.push_back(ids[i].get<std::string>());
  }
  return out;
}

void add_sentences(detail::DatasetBuilder& builder, const std::string& video, const json& entry,
                   const std::string& where) {
  const json& sentences = detail::json_member(entry, "sentences", json::value_t::array, where);
  const json& stamps = detail::json_member(entry, "timestamps", json::value_t::array, where);
  XCLIP_CHECK(stamps.size() == sentences.size(), where, ": ", sentences.size(), " sentences but ", stamps.size(),
              " timestamps");
  for (size_t k = 0; k < sentences.size(); ++k) {
    std::string at = format(where, ": timestamps[", k, "]");
    XCLIP_CHECK(stamps[k].is_array() && stamps[k].size() == 2, at, " should be [start, end]");
    XCLIP_CHECK(sentences[k].is_string(), where, ": sentences[", k, "] should be a string");
    // Per-sentence spans as CLIP4Clip's non-paragraph loader: floor(start), ceil(end).
    double start = std::floor(detail::json_number(stamps[k][0], at));
    double end = std::ceil(detail::json_number(stamps[k][1], at));
    int64_t clip = builder.clip(video, start, end);
    if (clip >= 0) builder.add_sample(clip, {sentences[k].get<std::string>()});
  }
}

std::string paragraph_of(const json& entry, const std::string& where) {
  const json& sentences = detail::json_member(entry, "sentences", json::value_t::array, where);
  std::string paragraph;
  for (size_t k = 0; k < sentences.size(); ++k) {
    XCLIP_CHECK(sentences[k].is_string(), where, ": sentences[", k, "] should be a string");
    paragraph += (k ? " " : "") + sentences[k].get<std::string>();
  }
  return paragraph;
}

}  // namespace

Dataset read_activitynet(const DatasetOptions& options) {
  detail::VideoIndex index(options.features_path);
  bool train = options.split == "train";
  fs::path ids_path = options.data_path / (train ? "train_ids.json" : "val_ids.json");
  fs::path captions_path = options.data_path / (train ? "train.json" : "val_1.json");
  std::vector<std::string> ids = read_ids(ids_path);
  json captions = detail::read_json_file(captions_path);
  XCLIP_CHECK(captions.is_object(), captions_path.string(), ": expected an object {video id: {duration, sentences}}");

  detail::DatasetBuilder builder(options, index);
  for (const auto& pseudo_id : ids) {
    auto it = captions.find(pseudo_id);
    if (it == captions.end()) {
      builder.count_id_without_captions();
      continue;
    }
    std::string where = format(captions_path.string(), ": ", pseudo_id);
    std::string video = file_id(pseudo_id);
    if (!options.paragraph) {
      add_sentences(builder, video, *it, where);
      continue;
    }
    std::string paragraph = paragraph_of(*it, where);
    XCLIP_CHECK(it->is_object() && it->contains("duration"), where, ": missing 'duration'");
    double duration = detail::json_number(it->at("duration"), where + ": duration");  // float() in the original
    int64_t clip = builder.clip(video, 0.0, std::ceil(duration));
    if (clip >= 0) builder.add_sample(clip, {std::move(paragraph)});
  }
  return builder.finish(false, options.paragraph ? "paragraph" : "one sample per sentence");
}

}  // namespace xclip::data
