// Retrieval metrics exactly as the original metrics.py:
// - compute_metrics: rows are queries, the ground truth is on the diagonal. A row's 0-based rank
//   is the number of candidates scoring strictly higher; a tie with the diagonal contributes one
//   entry per tied position (numpy's `np.where(sx == d)`), a NaN diagonal contributes none; the
//   denominators use the number of entries. MdR = numpy median + 1 (mean of the middle two).
// - text_to_video_multi (tensor_text_to_video_metrics): sim3 [G, Lmax, V] with caption rows padded
//   by ±inf/NaN; every real caption ranks the videos; MdR = torch.median (lower middle) + 1.
// - video_to_text_multi (tensor_video_to_text_sim): NaN → −inf, max over captions → [G, V],
//   transposed, then compute_metrics.
#pragma once
#include <string>
#include <vector>

#include "xclip/core/tensor.hpp"

namespace xclip::train {

struct RetrievalMetrics {
  double r1 = 0, r5 = 0, r10 = 0;  // percentages
  double median_rank = 0, mean_rank = 0;
  double std_rank = -1;            // only the multi-sentence text-to-video metric reports it
  int64_t count = 0;               // number of rank entries
};

RetrievalMetrics compute_metrics(const Tensor& sim);  // sim [Q, C], f32/f64
RetrievalMetrics text_to_video_multi(const Tensor& sim3);
RetrievalMetrics video_to_text_multi(const Tensor& sim3);

// Groups rows of a [captions, videos] matrix by video into [videos, max captions, videos], padding
// with −inf, as the original does for multi-sentence test sets. `caption_video[i]` is the video
// index of caption i; captions of a video keep their order.
Tensor group_by_video(const Tensor& sim, const std::vector<int64_t>& caption_video);

// "R@1 46.1 R@5 73.0 R@10 83.1 MdR 2.0 MnR 13.2" style row, and JSON.
std::string format_metrics_row(const std::string& direction, const RetrievalMetrics& m);
std::string metrics_json(const RetrievalMetrics& m);

}  // namespace xclip::train
