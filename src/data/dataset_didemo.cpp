// DiDeMo (dataloader_didemo_retrieval.py): {split}_list.txt + {split}_data.json. The original
// joins all descriptions of a video into one paragraph over [0, 31] s; per-description times come
// in 5-second units (start = mean of the annotators' first chunk · 5, end = (mean last chunk + 1) · 5)
// and are used only when `paragraph` is off.
#include <map>
#include <set>

#include "xclip/io/json_file.hpp"
#include "xclip/core/error.hpp"
#include "xclip/data/dataset_readers.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace xclip::data {

namespace {

struct Moment {
  std::string description;
  double start = 0, end = 0;  // seconds
};

// Mean over annotators of chunk[which] (0: first chunk, 1: last chunk).
double mean_chunk(const json& times, int which, const std::string& where) {
  XCLIP_CHECK(times.is_array() && !times.empty(), where, ": 'times' should be a non-empty list of [start, end]");
  double sum = 0;
  for (size_t k = 0; k < times.size(); ++k) {
    XCLIP_CHECK(times[k].is_array() && times[k].size() == 2, where, ": times[", k, "] should be [start, end], got ",
                io::json_excerpt(times[k], 80));
    sum += detail::json_number(times[k][size_t(which)], format(where, ": times[", k, "]"));
  }
  return sum / double(times.size());
}

}  // namespace

Dataset read_didemo(const DatasetOptions& options) {
  detail::VideoIndex index(options.features_path);
  fs::path list_path = options.data_path / (options.split + "_list.txt");
  fs::path json_path = options.data_path / (options.split + "_data.json");
  detail::IdList list = detail::read_id_list(list_path);
  std::set<std::string> listed(list.ids.begin(), list.ids.end());
  json data = detail::read_json_file(json_path);
  XCLIP_CHECK(data.is_array(), json_path.string(), ": expected a list of {description, times, video}");

  // Moments per listed video, videos in order of first appearance in the JSON.
  std::vector<std::string> order;
  std::map<std::string, std::vector<Moment>> moments;
  for (size_t i = 0; i < data.size(); ++i) {
    std::string where = format(json_path.string(), ": [", i, "]");
    std::string video = detail::json_member(data[i], "video", json::value_t::string, where).get<std::string>();
    if (!listed.count(video)) continue;
    Moment m;
    m.description = detail::json_member(data[i], "description", json::value_t::string, where).get<std::string>();
    if (!options.paragraph) {
      const json& times = detail::json_member(data[i], "times", json::value_t::array, where);
      m.start = mean_chunk(times, 0, where) * 5;
      m.end = (mean_chunk(times, 1, where) + 1) * 5;
    }
    if (!moments.count(video)) order.push_back(video);
    moments[video].push_back(std::move(m));
  }

  detail::DatasetBuilder builder(options, index);
  for (const auto& id : listed)
    if (!moments.count(id)) builder.count_id_without_captions();
  for (const auto& video : order) {
    const auto& ms = moments.at(video);
    if (options.paragraph) {
      std::string paragraph;
      for (size_t k = 0; k < ms.size(); ++k) paragraph += (k ? " " : "") + ms[k].description;
      // The original fixes every span to [0, 31]: annotations stop at 30 s (LocalizingMoments).
      int64_t clip = builder.clip(video, 0.0, 31.0);
      if (clip >= 0) builder.add_sample(clip, {std::move(paragraph)});
      continue;
    }
    for (const auto& m : ms) {
      int64_t clip = builder.clip(video, m.start, m.end);
      if (clip >= 0) builder.add_sample(clip, {m.description});
    }
  }
  return builder.finish(false, options.paragraph ? "paragraph" : "one sample per moment");
}

}  // namespace xclip::data
