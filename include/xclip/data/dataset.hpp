// Retrieval datasets in the layouts the original X-CLIP / CLIP4Clip dataloaders read, turned into
// one common structure:
//
//   clips    the units that get decoded: a video file, optionally with a time span in seconds
//            (DiDeMo, ActivityNet), in a fixed order;
//   samples  (clip, caption) pairs, the items a loader iterates over;
//   grouping for evaluation: `multi_sentence_per_video` with `cut_off_points` (MSVD: every caption
//            of a test video is a query, grouped per video, as the original's eval does).
//
//   DatasetOptions o;  o.kind = DatasetKind::msrvtt;  o.split = "train";
//   o.data_path = "msrvtt_data";  o.features_path = "MSRVTT/videos/all";
//   Dataset d = read_dataset(o);
//   std::cout << d.summary() << "\n";
//
// File names and fields follow the original dataloaders (xuguohai/X-CLIP dataloaders/, which share
// them with ArrowLuo/CLIP4Clip); see the per-layout comments in dataset_readers.hpp.
// A video that is missing or cannot be opened is reported (id, file, reason) in `skipped` and its
// samples are left out; with `strict` it is an error instead. A malformed annotation file is an
// error naming the file and line (json: line and column; csv: the row's line).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace xclip::data {

enum class DatasetKind { msrvtt, msvd, lsmdc, didemo, activitynet, vatex };
// "msrvtt", "msvd", "lsmdc", "didemo", "activity" / "activitynet", "vatex" (the original --datatype names).
DatasetKind dataset_kind_from_name(const std::string& name);
const char* dataset_kind_name(DatasetKind kind);

struct DatasetOptions {
  DatasetKind kind = DatasetKind::msrvtt;
  std::string split = "train";            // train | val | test (MSR-VTT, ActivityNet: test = val)
  // Annotation folder. For MSR-VTT also accepted: the path of MSRVTT_data.json itself (the
  // original's --data_path), the csvs then default to the same folder.
  std::filesystem::path data_path;
  std::filesystem::path features_path;    // the videos; searched recursively
  std::filesystem::path train_csv;        // MSR-VTT: default MSRVTT_train.9k.csv (7k: pass it here)
  std::filesystem::path val_csv;          // MSR-VTT: default MSRVTT_JSFUSION_test.csv
  // MSR-VTT training: every caption of a training video is a sample (all scripts), or else one
  // sample per video with a caption drawn at random each epoch.
  bool expand_msrvtt_sentences = true;
  // DiDeMo / ActivityNet: all captions of a video joined into one paragraph over the whole video
  // (the original), or else one sample per caption with its own time span.
  bool paragraph = true;
  bool strict = false;                    // a missing / unreadable video is an error
};

// One decodable unit.
struct Clip {
  std::string video_id;
  std::filesystem::path path;
  std::optional<double> start, end;  // seconds, as the original computes them (before int())
};

struct Sample {
  int64_t clip = 0;                   // index into Dataset::clips
  // Usually one caption. Several: the candidates of "one random caption per video per epoch"
  // (MSR-VTT without expand_msrvtt_sentences); the loader draws one from (seed, epoch, sample).
  std::vector<std::string> captions;
};

struct VideoProblem {
  std::string video_id;
  std::string file;    // the path looked at, or the folder searched
  std::string reason;
  // What is wrong, for reports that group problems (xclip-cli check): no file; a file of zero bytes
  // or a video without a frame to sample; a file that cannot be read at all; frames that stop
  // before the container's count (a read fails part-way).
  enum class Kind { missing, empty, unreadable, partial } kind = Kind::unreadable;
};
// "missing", "empty", "unreadable", "partly corrupt".
const char* video_problem_kind_name(VideoProblem::Kind kind);

struct Dataset {
  DatasetKind kind = DatasetKind::msrvtt;
  std::string split;
  std::vector<Clip> clips;
  std::vector<Sample> samples;
  // Multi-sentence evaluation (MSVD): samples are contiguous per clip and cut_off_points[i] is the
  // end (exclusive) of clip i's samples. Otherwise the evaluation pairs sample i's text with sample
  // i's clip, as the original's eval does.
  bool multi_sentence_per_video = false;
  std::vector<int64_t> cut_off_points;
  std::vector<VideoProblem> skipped;        // videos left out (missing, empty or unreadable files)
  int64_t ids_without_captions = 0;         // listed in a split file but absent from the captions
  std::string notes;                        // e.g. "expand_msrvtt_sentences", "paragraph"

  // "msrvtt/train: 9000 clips, 180000 samples (expand_msrvtt_sentences); 2 videos skipped: ..."
  std::string summary(size_t max_listed = 5) const;
};

Dataset read_dataset(const DatasetOptions& options);

// The original's integer span for a clip with times: int() of both, negatives to 0, swapped when
// reversed, end + 1 when equal (dataloader_*_retrieval.py _get_rawvideo). nullopt without times.
struct SecondSpan {
  int64_t start = 0, end = 0;
};
std::optional<SecondSpan> clip_seconds(const Clip& clip);

// A stable text key of a clip ("video7", "v_abc@0-31"), used by the frame cache.
std::string clip_key(const Clip& clip);

}  // namespace xclip::data
