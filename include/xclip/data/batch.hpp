// The batch: what the data loader produces and the model consumes, and the interface the trainer
// and the evaluation read batches through. Header only, with no FFmpeg behind it: the training
// loop (in xclip_core) depends on these types, the Loader (in xclip_data) implements them
// (data/batch_source.hpp), and tests implement them with tensors made in memory.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "xclip/core/tensor.hpp"

namespace xclip::data {

// Training batches carry all four tensors; evaluation text batches only the text pair, video
// batches only the video pair.
struct Batch {
  int64_t index = 0;                  // batch number within the epoch
  std::vector<int64_t> items;         // sample indices (or clip indices with Items::clips)
  std::vector<std::string> captions;  // the caption each sample used (empty with Items::clips)
  Tensor video;           // f32 [B, F, 3, size, size] normalised, or u8 [B, F, size, size, 3]
  Tensor video_mask;      // i64 [B, F]
  Tensor input_ids;       // i64 [B, max_words] (undefined with Items::clips)
  Tensor attention_mask;  // i64 [B, max_words]
  int64_t failed_videos = 0;  // items of this batch whose video could not be decoded (zeros)

  int64_t size() const { return input_ids.defined() ? input_ids.dim(0) : video.defined() ? video.dim(0) : 0; }
};

// The batch with every defined tensor on `device` (the model's; loaders produce CPU batches).
inline Batch to_device(Batch batch, Device device) {
  for (Tensor* t : {&batch.input_ids, &batch.attention_mask, &batch.video, &batch.video_mask})
    if (t->defined() && t->device() != device) *t = t->to(device);
  return batch;
}

// A deterministic source of batches: after start_epoch(e), next() returns the batches of epoch e
// in order, then nullopt. The same epoch must give the same batches every time.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t batches_per_epoch() const = 0;
  virtual int64_t samples_per_epoch() const = 0;
  virtual void start_epoch(int64_t epoch) = 0;
  virtual std::optional<Batch> next() = 0;
};

// What an evaluation reads: batches with input_ids / attention_mask (every text, in order) and
// batches with video / video_mask (every video, in order). The same source for both: one pass
// over pairs.
struct EvalInputs {
  BatchSource* texts = nullptr;
  BatchSource* videos = nullptr;
  // Multi-sentence: caption_video[i] is the video (column) of text i; texts grouped per video.
  bool multi_sentence = false;
  std::vector<int64_t> caption_video;
};

}  // namespace xclip::data
