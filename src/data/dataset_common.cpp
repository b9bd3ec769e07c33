// What the dataset readers share: video lookup, JSON and list reading, the builder, summaries.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <set>

#include "xclip/io/json_file.hpp"
#include "xclip/core/error.hpp"
#include "xclip/data/csv.hpp"
#include "xclip/data/dataset_readers.hpp"

namespace fs = std::filesystem;

namespace xclip::data {

// ---- kinds -------------------------------------------------------------------------------------

DatasetKind dataset_kind_from_name(const std::string& name) {
  if (name == "msrvtt") return DatasetKind::msrvtt;
  if (name == "msvd") return DatasetKind::msvd;
  if (name == "lsmdc") return DatasetKind::lsmdc;
  if (name == "didemo") return DatasetKind::didemo;
  if (name == "activity" || name == "activitynet") return DatasetKind::activitynet;
  if (name == "vatex") return DatasetKind::vatex;
  throw Error(format("unknown dataset '", name, "' (expected msrvtt, msvd, lsmdc, didemo, activity or vatex)"));
}

const char* dataset_kind_name(DatasetKind kind) {
  switch (kind) {
    case DatasetKind::msrvtt: return "msrvtt";
    case DatasetKind::msvd: return "msvd";
    case DatasetKind::lsmdc: return "lsmdc";
    case DatasetKind::didemo: return "didemo";
    case DatasetKind::activitynet: return "activity";
    case DatasetKind::vatex: return "vatex";
  }
  return "?";
}

Dataset read_dataset(const DatasetOptions& options) {
  XCLIP_CHECK(options.split == "train" || options.split == "val" || options.split == "test",
              "dataset split must be train, val or test, got '", options.split, "'");
  switch (options.kind) {
    case DatasetKind::msrvtt: return read_msrvtt(options);
    case DatasetKind::msvd: return read_msvd(options);
    case DatasetKind::lsmdc: return read_lsmdc(options);
    case DatasetKind::didemo: return read_didemo(options);
    case DatasetKind::activitynet: return read_activitynet(options);
    case DatasetKind::vatex: return read_vatex(options);
  }
  throw Error("read_dataset: unknown dataset kind");
}

const char* video_problem_kind_name(VideoProblem::Kind kind) {
  switch (kind) {
    case VideoProblem::Kind::missing: return "missing";
    case VideoProblem::Kind::empty: return "empty";
    case VideoProblem::Kind::unreadable: return "unreadable";
    case VideoProblem::Kind::partial: return "partly corrupt";
  }
  return "?";
}

// ---- spans and keys -----------------------------------------------------------------------------

std::optional<SecondSpan> clip_seconds(const Clip& clip) {
  if (!clip.start || !clip.end) return std::nullopt;
  // int() truncates toward zero, then the original clamps negatives and fixes the order.
  int64_t s = std::max<int64_t>(int64_t(std::trunc(*clip.start)), 0);
  int64_t e = std::max<int64_t>(int64_t(std::trunc(*clip.end)), 0);
  if (s > e) std::swap(s, e);
  if (s == e) e += 1;
  return SecondSpan{s, e};
}

static std::string number_text(double x) {
  if (x == std::floor(x) && std::abs(x) < 1e15) return std::to_string(int64_t(x));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

std::string clip_key(const Clip& clip) {
  if (!clip.start && !clip.end) return clip.video_id;
  return clip.video_id + "@" + number_text(clip.start.value_or(0)) + "-" + number_text(clip.end.value_or(0));
}

// ---- summary ------------------------------------------------------------------------------------

std::string Dataset::summary(size_t max_listed) const {
  std::string s = format(dataset_kind_name(kind), "/", split, ": ", clips.size(), " clips, ", samples.size(),
                         " samples");
  if (!notes.empty()) s += " (" + notes + ")";
  if (multi_sentence_per_video) s += ", multi-sentence per video";
  if (ids_without_captions > 0) s += format("; ", ids_without_captions, " listed ids without captions");
  if (!skipped.empty()) {
    s += format("; ", skipped.size(), " video", skipped.size() == 1 ? "" : "s", " skipped");
    for (size_t i = 0; i < skipped.size() && i < max_listed; ++i)
      s += format(i == 0 ? ": " : "; ", skipped[i].video_id, " (", skipped[i].reason, ")");
    if (skipped.size() > max_listed) s += format("; ... ", skipped.size() - max_listed, " more");
  }
  return s;
}

namespace detail {

// ---- video lookup -------------------------------------------------------------------------------

const std::vector<std::string>& VideoIndex::extensions() {
  static const std::vector<std::string> exts = {"mp4", "webm", "mkv", "avi", "mov", "m4v", "mpg",
                                                "mpeg", "flv", "wmv", "3gp", "ogv", "ts"};
  return exts;
}

static int extension_rank(const fs::path& file) {
  std::string ext = file.extension().string();
  if (ext.size() < 2) return -1;
  ext = ext.substr(1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  const auto& exts = VideoIndex::extensions();
  auto it = std::find(exts.begin(), exts.end(), ext);
  return it == exts.end() ? -1 : int(it - exts.begin());
}

VideoIndex::VideoIndex(const fs::path& features_path) : root_(features_path) {
  std::error_code ec;
  XCLIP_CHECK(fs::is_directory(features_path, ec), features_path.string(),
              ": video folder (features_path) not found or not a folder");
  // Sorted walk so that the chosen file is the same on every machine when one id appears twice.
  std::vector<fs::path> files;
  auto options = fs::directory_options::follow_directory_symlink | fs::directory_options::skip_permission_denied;
  for (auto it = fs::recursive_directory_iterator(features_path, options, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_directory(ec)) continue;
    if (extension_rank(it->path()) >= 0) files.push_back(it->path());
  }
  XCLIP_CHECK(!ec, features_path.string(), ": cannot list the video folder: ", ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    int rank = extension_rank(f);
    std::string id = f.stem().string();
    auto found = by_id_.find(id);
    if (found == by_id_.end() || rank < found->second.first) by_id_[id] = {rank, f};
  }
}

VideoIndex::Lookup VideoIndex::find(const std::string& video_id) const {
  using Kind = VideoProblem::Kind;
  auto it = by_id_.find(video_id);
  if (it == by_id_.end())
    return {{}, format("no file ", video_id, ".{mp4,webm,mkv,avi,...} under ", root_.string()), Kind::missing};
  const fs::path& path = it->second.second;
  std::error_code ec;
  if (!fs::exists(path, ec)) return {path, format(path.string(), ": broken link"), Kind::missing};
  if (!fs::is_regular_file(path, ec)) return {path, format(path.string(), ": not a regular file"), Kind::unreadable};
  const auto bytes = fs::file_size(path, ec);
  if (ec) return {path, format(path.string(), ": cannot read its size: ", ec.message()), Kind::unreadable};
  if (bytes == 0) return {path, format(path.string(), ": empty file (0 bytes)"), Kind::empty};
  std::ifstream probe(path, std::ios::binary);
  if (!probe.good()) return {path, format(path.string(), ": cannot be opened for reading"), Kind::unreadable};
  return {path, ""};
}

// ---- JSON ---------------------------------------------------------------------------------------

static std::pair<int64_t, int64_t> line_and_column(const std::string& text, size_t byte) {
  int64_t line = 1, column = 1;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

// Annotation files and frame cache manifests are a few levels deep: deeper nesting is refused at
// parse time (printing or walking it later would recurse off the stack). Numbers out of range and
// other library errors become errors naming the file.
constexpr int kAnnotationJsonMaxDepth = 8;

nlohmann::json read_json_file(const fs::path& path) {
  std::string text = read_text_file(path);
  const nlohmann::json::parser_callback_t limit = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    if ((event == nlohmann::json::parse_event_t::object_start || event == nlohmann::json::parse_event_t::array_start) &&
        depth >= kAnnotationJsonMaxDepth)
      throw Error(format(path.string(), ": JSON nested deeper than ", kAnnotationJsonMaxDepth, " levels"));
    return true;
  };
  try {
    return nlohmann::json::parse(text, limit);
  } catch (const nlohmann::json::parse_error& e) {
    auto [line, column] = line_and_column(text, e.byte > 0 ? e.byte - 1 : 0);
    throw Error(format(path.string(), ":", line, ":", column, ": malformed JSON: ", e.what()));
  } catch (const nlohmann::json::exception& e) {
    throw Error(format(path.string(), ": malformed JSON: ", e.what()));
  }
}

static const char* json_type_name(nlohmann::json::value_t t) {
  using V = nlohmann::json::value_t;
  switch (t) {
    case V::object: return "an object";
    case V::array: return "a list";
    case V::string: return "a string";
    case V::number_integer:
    case V::number_unsigned:
    case V::number_float: return "a number";
    case V::boolean: return "a boolean";
    case V::null: return "null";
    default: return "a value";
  }
}

const nlohmann::json& json_member(const nlohmann::json& object, const std::string& key, nlohmann::json::value_t type,
                                  const std::string& where) {
  XCLIP_CHECK(object.is_object(), where, ": expected an object, got ", json_type_name(object.type()));
  auto it = object.find(key);
  XCLIP_CHECK(it != object.end(), where, ": missing '", key, "'");
  bool ok = it->type() == type || (it->is_number() && (type == nlohmann::json::value_t::number_float ||
                                                       type == nlohmann::json::value_t::number_integer));
  XCLIP_CHECK(ok, where, ": '", key, "' should be ", json_type_name(type), ", got ", json_type_name(it->type()));
  return *it;
}

double json_number(const nlohmann::json& value, const std::string& where) {
  if (value.is_number()) return value.get<double>();
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    try {
      size_t used = 0;
      double x = std::stod(s, &used);
      if (used == s.size()) return x;
    } catch (...) {
    }
  }
  throw Error(format(where, ": expected a number, got ", io::json_excerpt(value, 80)));
}

// ---- id lists -----------------------------------------------------------------------------------

IdList read_id_list(const fs::path& path) {
  CsvOptions plain{.delimiter = '\n', .quoting = false, .header = false, .trim_lines = true};
  CsvTable lines = read_csv(path, plain);
  IdList list;
  for (size_t i = 0; i < lines.rows.size(); ++i) {
    list.ids.push_back(lines.rows[i][0]);
    list.lines.push_back(lines.row_lines[i]);
  }
  return list;
}

// ---- listed videos with all their captions (MSVD, VATEX) ---------------------------------------

Dataset read_listed_videos(const DatasetOptions& options, const CaptionsOf& captions_of) {
  VideoIndex index(options.features_path);
  const fs::path list_path = options.data_path / (options.split + "_list.txt");
  const IdList list = read_id_list(list_path);
  DatasetBuilder builder(options, index);
  std::set<std::string> seen;
  for (size_t i = 0; i < list.ids.size(); ++i) {
    const std::string& video_id = list.ids[i];
    if (!seen.insert(video_id).second) continue;  // a repeated id would break the per-video grouping
    std::vector<std::string> captions = captions_of(video_id, format(list_path.string(), ":", list.lines[i]));
    if (captions.empty()) {  // an empty group would leave the evaluation a video with no query
      builder.count_id_without_captions();
      continue;
    }
    const int64_t clip = builder.clip(video_id);
    if (clip < 0) continue;
    for (auto& caption : captions) builder.add_sample(clip, {std::move(caption)});
  }
  return builder.finish(true, "all captions per video");
}

// ---- builder ------------------------------------------------------------------------------------

DatasetBuilder::DatasetBuilder(const DatasetOptions& options, const VideoIndex& index)
    : options_(options), index_(index) {
  dataset_.kind = options.kind;
  dataset_.split = options.split;
}

int64_t DatasetBuilder::clip(const std::string& video_id, std::optional<double> start, std::optional<double> end) {
  auto usable = video_usable_.find(video_id);
  if (usable == video_usable_.end()) {
    VideoIndex::Lookup found = index_.find(video_id);
    bool ok = found.problem.empty();
    usable = video_usable_.emplace(video_id, ok).first;
    if (ok) {
      video_path_[video_id] = found.path;
    } else {
      // The file looked at when there is one, else the folder searched.
      const fs::path where = found.path.empty() ? options_.features_path : found.path;
      dataset_.skipped.push_back({video_id, where.string(), found.problem, found.kind});
    }
  }
  if (!usable->second) return -1;
  Clip c{video_id, video_path_.at(video_id), start, end};
  std::string key = clip_key(c);
  auto it = clip_by_key_.find(key);
  if (it != clip_by_key_.end()) return it->second;
  int64_t index = int64_t(dataset_.clips.size());
  dataset_.clips.push_back(std::move(c));
  clip_by_key_.emplace(std::move(key), index);
  return index;
}

void DatasetBuilder::add_sample(int64_t clip, std::vector<std::string> captions) {
  XCLIP_CHECK(clip >= 0 && clip < int64_t(dataset_.clips.size()), "DatasetBuilder: bad clip index ", clip);
  XCLIP_CHECK(!captions.empty(), "DatasetBuilder: a sample needs a caption");
  dataset_.samples.push_back({clip, std::move(captions)});
}

Dataset DatasetBuilder::finish(bool multi_sentence_per_video, std::string notes) {
  dataset_.notes = std::move(notes);
  dataset_.ids_without_captions = ids_without_captions_;
  dataset_.multi_sentence_per_video = multi_sentence_per_video;
  if (multi_sentence_per_video) {
    // Samples were added clip by clip; the cut-off points are where each clip's run ends.
    for (size_t i = 0; i < dataset_.samples.size(); ++i) {
      bool last_of_clip = i + 1 == dataset_.samples.size() || dataset_.samples[i + 1].clip != dataset_.samples[i].clip;
      if (last_of_clip) dataset_.cut_off_points.push_back(int64_t(i) + 1);
    }
    XCLIP_CHECK(dataset_.cut_off_points.size() == dataset_.clips.size(),
                "DatasetBuilder: multi-sentence samples must be contiguous per clip");
  }
  if (options_.strict && !dataset_.skipped.empty()) {
    throw Error(format("strict: ", dataset_.skipped.size(), " video(s) missing or unreadable; ",
                       dataset_.summary()));
  }
  return std::move(dataset_);
}

}  // namespace detail
}  // namespace xclip::data
