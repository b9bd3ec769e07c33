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
#include "xclip/models/model.hpp"
#include "xclip/train/metrics.hpp"

namespace xclip::train {



struct EvalResult {
  Tensor sim;  // f32 [texts, videos]
  RetrievalMetrics t2v, v2t;
  bool multi_sentence = false;
  std::vector<int64_t> caption_video;
  double encode_seconds = 0, similarity_seconds = 0;

  // A two-row table (text-to-video, video-to-text: R@1 R@5 R@10 MdR MnR), titled.
  std::string table(const std::string& title = "") const;
  nlohmann::json to_json() const;  // {"text_to_video": {...}, "video_to_text": {...}, "texts", "videos", ...}
};

// `progress` (optional) is called with a short status line per encoded batch.
EvalResult evaluate(const models::RetrievalModel& model, const data::EvalInputs& inputs,
                    const std::function<void(const std::string&)>& progress = {});

// The metrics of a similarity matrix as eval_epoch computes them (multi_sentence: grouped).
EvalResult metrics_of(Tensor sim, bool multi_sentence, std::vector<int64_t> caption_video);

// Side-by-side table of several evaluations (e.g. X-CLIP and meanP): one row per (name, direction).
std::string comparison_table(const std::vector<std::pair<std::string, EvalResult>>& results);

}  // namespace xclip::train
