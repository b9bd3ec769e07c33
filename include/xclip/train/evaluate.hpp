// Retrieval evaluation as main_xclip.py eval_epoch: every text and every video encoded in batches
// without a graph, the [texts × videos] similarity built block by block (the heads'
// similarity_matrix, batch_size_val texts × videos at a time), then R@1/5/10, MdR, MnR in both
// directions (metrics.hpp). Single-sentence sets (MSR-VTT 1k-A, LSMDC, DiDeMo and ActivityNet
// paragraphs) pair text i with video i; multi-sentence sets (MSVD) group the caption rows per
// video as the original does.
//
//   data::EvalInputs in;  in.texts = &pairs;  in.videos = &pairs;          // one pass over (text, video)
//   EvalResult r = evaluate(model, in);
//   std::cout << r.table();
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "xclip/data/batch.hpp"
#include "xclip/data/dataset.hpp"
#include "xclip/models/model.hpp"
#include "xclip/train/metrics.hpp"

namespace xclip::train {

struct EvalResult {
  Tensor sim;  // f32 [texts, videos] (the pairs evaluated)
  RetrievalMetrics t2v, v2t;
  bool multi_sentence = false;
  std::vector<int64_t> caption_video;
  double encode_seconds = 0, similarity_seconds = 0;
  // Videos of the split that are not in the metrics (allowed with --allow_missing_videos): missing
  // when the dataset was read (their pairs were never loaded), undecodable when encoded (their
  // pairs were removed before the metrics). The table and the JSON state them with the pair count.
  std::vector<data::VideoProblem> missing_videos, undecodable_videos;

  int64_t pairs() const { return sim.defined() ? sim.dim(0) : 0; }  // text-video pairs evaluated
  // A two-row table (text-to-video, video-to-text: R@1 R@5 R@10 MdR MnR), titled; a last line
  // counts the pairs and the videos left out when any was.
  std::string table(const std::string& title = "") const;
  // {"text_to_video": {...}, "video_to_text": {...}, "texts", "videos", "pairs_evaluated",
  //  "videos_missing", "videos_undecodable", "missing_videos": [{video_id, file, reason}], ...}
  nlohmann::json to_json() const;
};

// Called once every text and video is encoded, before the similarity: returns the columns
// (videos) to leave out of the metrics together with their texts (single-sentence sets: text i
// goes with video i; multi-sentence sets: every caption of the video), or throws to stop the
// evaluation there (e.g. undecodable videos that are not allowed).
using AfterEncoding = std::function<std::vector<int64_t>()>;

// `progress` (optional) is called with a short status line per encoded batch.
EvalResult evaluate(const models::RetrievalModel& model, const data::EvalInputs& inputs,
                    const std::function<void(const std::string&)>& progress = {},
                    const AfterEncoding& after_encoding = {});

// The similarity without the given videos (columns) and their texts (rows); caption_video (multi-
// sentence sets) is renumbered to the remaining columns. Unknown or repeated columns are errors.
void drop_videos(Tensor& sim, bool multi_sentence, std::vector<int64_t>& caption_video,
                 const std::vector<int64_t>& videos);

// The metrics of a similarity matrix as eval_epoch computes them (multi_sentence: grouped).
EvalResult metrics_of(Tensor sim, bool multi_sentence, std::vector<int64_t> caption_video);

// Side-by-side table of several evaluations (e.g. X-CLIP and meanP): one row per (name, direction).
std::string comparison_table(const std::vector<std::pair<std::string, EvalResult>>& results);

}  // namespace xclip::train
