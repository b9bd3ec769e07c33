// The per-layout readers behind read_dataset() and the pieces they share. Public so that tests
// (and tools) can reach one layout directly; most code wants read_dataset() from dataset.hpp.
//
// Layouts (fields as the original dataloaders read them):
//   MSR-VTT      MSRVTT_data.json {sentences: [{video_id, caption}], videos: [...]};
//                train: MSRVTT_train.9k.csv (column video_id), expanded = every sentence of a
//                listed video in JSON order; test/val: MSRVTT_JSFUSION_test.csv (columns
//                video_id, sentence), one sample per row.
//   MSVD         {train,val,test}_list.txt (one id per line) + raw-captions.pkl (dict id -> list of
//                token lists, each joined with " "); every caption a sample, grouped per video.
//   LSMDC        LSMDC16_annos_training.csv / LSMDC16_annos_val.csv /
//                LSMDC16_challenge_1000_publictect.csv, tab separated, 6 fields
//                (clip_id, start_aligned, end_aligned, start_extracted, end_extracted, sentence).
//   DiDeMo       {split}_list.txt + {split}_data.json [{description, times, video}], times in
//                5-second units; paragraph: descriptions joined with " ", span [0, 31] s.
//   ActivityNet  train_ids.json / val_ids.json (["v_xxx", ...]) + train.json / val_1.json
//                {v_xxx: {duration, timestamps, sentences}}; video file name = id minus "v_";
//                paragraph: sentences joined with " ", span [0, ceil(duration)].
//   VATEX        {train,val,test}_list.txt (one id per line, the HGR split) + ref_captions.json
//                {id: [caption, ...]} (TC-MGC's dataloader_vatex_retrieval.py); every caption a
//                sample, grouped per video, as MSVD.
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "xclip/data/dataset.hpp"

namespace xclip::data {

Dataset read_msrvtt(const DatasetOptions& options);
Dataset read_msvd(const DatasetOptions& options);
Dataset read_lsmdc(const DatasetOptions& options);
Dataset read_didemo(const DatasetOptions& options);
Dataset read_activitynet(const DatasetOptions& options);
Dataset read_vatex(const DatasetOptions& options);

namespace detail {

// Finds video files under a folder (recursively, following links) by id = file name without its
// last extension, as the original's os.walk lookup does ("video7.mp4" -> "video7",
// "x.mov.mp4" -> "x.mov"). Only video extensions count; when one id has several files the
// extension order below decides (mp4 first, then webm: the original MSR-VTT fallback).
class VideoIndex {
 public:
  static const std::vector<std::string>& extensions();  // "mp4", "webm", "mkv", "avi", ...

  explicit VideoIndex(const std::filesystem::path& features_path);

  struct Lookup {
    std::filesystem::path path;  // the file found (also when it is not usable); empty when none
    std::string problem;         // why it is not usable ("" when found and readable)
    VideoProblem::Kind kind = VideoProblem::Kind::missing;  // with a problem: which one
  };
  // Checks that the file exists, is a regular non-empty file and can be opened for reading.
  Lookup find(const std::string& video_id) const;
  size_t size() const { return by_id_.size(); }

 private:
  std::filesystem::path root_;
  std::unordered_map<std::string, std::pair<int, std::filesystem::path>> by_id_;  // rank, path
};

// Parses a JSON file; a syntax error names the file, line and column.
nlohmann::json read_json_file(const std::filesystem::path& path);
// A JSON member that must be present with the given type; errors name the file and the element.
const nlohmann::json& json_member(const nlohmann::json& object, const std::string& key,
                                  nlohmann::json::value_t type, const std::string& where);
// Number (or a numeric string, as Python's float() accepts) from a JSON value.
double json_number(const nlohmann::json& value, const std::string& where);

// One id per line, surrounding whitespace stripped, blank lines skipped; with their line numbers.
struct IdList {
  std::vector<std::string> ids;
  std::vector<int64_t> lines;
};
IdList read_id_list(const std::filesystem::path& path);

// MSVD and VATEX: every video of {split}_list.txt (first occurrence), each caption of it a sample,
// grouped per video. captions_of(id, "list file:line") gives a video's captions or throws naming
// the annotation file; a listed id with no captions is counted, not an error.
using CaptionsOf = std::function<std::vector<std::string>(const std::string& video_id, const std::string& listed_at)>;
Dataset read_listed_videos(const DatasetOptions& options, const CaptionsOf& captions_of);

// Collects clips and samples, looking up each video once and remembering what was skipped.
class DatasetBuilder {
 public:
  DatasetBuilder(const DatasetOptions& options, const VideoIndex& index);

  // Index of the clip for this video and span, added on first use; -1 when the video is
  // unusable (reported once per video id; with `strict` the error comes at finish()).
  int64_t clip(const std::string& video_id, std::optional<double> start = std::nullopt,
               std::optional<double> end = std::nullopt);
  void add_sample(int64_t clip, std::vector<std::string> captions);
  void count_id_without_captions() { ++ids_without_captions_; }
  Dataset finish(bool multi_sentence_per_video, std::string notes);

 private:
  const DatasetOptions& options_;
  const VideoIndex& index_;
  Dataset dataset_;
  std::map<std::string, int64_t> clip_by_key_;
  std::map<std::string, bool> video_usable_;
  std::unordered_map<std::string, std::filesystem::path> video_path_;
  int64_t ids_without_captions_ = 0;
};

}  // namespace detail
}  // namespace xclip::data
