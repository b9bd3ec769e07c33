// The exact whole-batch contrastive step in bounded memory (--chunk_clips N).
//
// The loss is a function of per-clip and per-caption features only (the CLIP towers work on each
// clip and caption alone; only the head and the loss see the whole batch). So the gradient of the
// whole batch's loss can be had without holding the whole batch's tower graphs:
//
//   1. encode every caption and clip with the towers in chunks of N, without a graph, keeping only
//      the features the head reads (sentence [B, D], words [B, L, D], frames [B, F, D]);
//   2. run the head and the loss on those features with a graph (the features are leaves);
//      backward gives the head's parameter gradients and dLoss/dfeature for every feature;
//   3. for each chunk again: recompute its towers with a graph and run one backward from its
//      feature outputs with the stored feature gradients (run_backward with several roots),
//      accumulating into the parameters; the chunk's graph is freed before the next one.
//
// The result is the one-graph gradient (the towers see the same inputs and compute the same
// features; only the order of floating-point sums changes), for one more forward of the towers.
// Peak memory: one chunk's tower graph + the head's graph on B features, instead of B clips'
// tower graphs. Everything else of a step (clipping, scaling, the optimizer) is unchanged: the
// parameters' .grad holds what model.forward(...).loss.backward() would have left there.
//
//   models::ChunkedStep step(model, ids, mask, video, video_mask, /*chunk_clips=*/16);
//   double loss = step.loss_value();          // check it before any gradient is written
//   step.backward(1.0 / gas);                 // as ops::scale(loss, 1/gas).backward()
#pragma once
#include <cstdint>
#include <string>

#include "xclip/models/model.hpp"

namespace xclip::models {

class ChunkedStep {
 public:
  // Steps 1 and 2's forward. chunk_clips >= 1 (a chunk larger than the batch is one chunk).
  ChunkedStep(const RetrievalModel& model, const Tensor& input_ids, const Tensor& attention_mask, const Tensor& video,
              const Tensor& video_mask, int64_t chunk_clips);

  const Tensor& loss() const { return loss_; }  // [] with the head's graph
  double loss_value() const;
  // Steps 2's backward (from loss · loss_scale) and 3. Once per step.
  void backward(double loss_scale = 1.0);

 private:
  void backward_text_chunk(int64_t start, int64_t n);
  void backward_video_chunk(int64_t start, int64_t n);

  const RetrievalModel& model_;
  Tensor input_ids_, attention_mask_, video_, video_mask_;
  int64_t chunk_;
  TextFeatures text_;    // leaves (requires_grad) holding the no-graph features
  VideoFeatures video_features_;
  Tensor loss_;
  bool done_ = false;
};

// What --chunk_clips auto measures and decides (for the log): the tensor memory one chunk's
// tower graph needs per clip (with its caption) and apart from the clips, from two probe passes of
// 1 and 2 clips with a graph, and the chunk that fits the memory available.
struct ChunkPlan {
  int64_t chunk_clips = 0;       // 0: the whole batch fits as one graph
  int64_t batch = 0;
  size_t bytes_per_clip = 0;     // measured: a tower graph's peak per clip (caption included)
  size_t bytes_fixed = 0;        // measured: the part of that peak that does not grow with clips
  size_t bytes_head = 0;         // measured: the head's forward + backward on the whole batch
  size_t bytes_available = 0;    // free device memory (CUDA) / MemAvailable (CPU) at the probe
  std::string str() const;
};

// How it decides: budget = fraction · available. The whole batch as one graph needs about
// fixed + batch · per_clip + head; when that fits, chunk 0 (no recompute). Otherwise the chunk is
// (budget − fixed − head) / per_clip clips, at least 1. The three byte counts are measured with
// tensor_memory() peaks: the towers' forward + backward on the batch's first 1 and then 2 clips
// (per_clip = the difference), and the head's forward + backward on zero features of the batch's
// size. The probes leave every parameter's gradient as it was.
// The probes, for benchmarks: the peak tensor memory of the towers' forward + backward on the first
// n clips and captions, and of the head + loss forward + backward on zero features of the masks'
// batch (features included). Both leave every parameter's gradient as it was.
size_t measure_tower_bytes(const RetrievalModel& model, const Tensor& input_ids, const Tensor& attention_mask,
                           const Tensor& video, const Tensor& video_mask, int64_t n);
size_t measure_head_bytes(const RetrievalModel& model, const Tensor& attention_mask, const Tensor& video_mask);

ChunkPlan plan_chunk_clips(const RetrievalModel& model, const Tensor& input_ids, const Tensor& attention_mask,
                           const Tensor& video, const Tensor& video_mask, double fraction = 0.8);

}  // namespace xclip::models
