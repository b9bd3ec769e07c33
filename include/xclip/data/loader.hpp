// The parallel batch loader: worker threads decode (or read from a frame cache), preprocess and
// tokenise batches ahead of the consumer, in a bounded window, and hand them over in order.
//
//   LoaderOptions o;  o.batch_size = 64;  o.shuffle = true;  o.drop_last = true;
//   o.sampling.max_frames = 12;  o.max_words = 32;  o.threads = 8;
//   Loader loader(dataset, o, my_text_encoder);
//   for (int64_t epoch = 0; epoch < 5; ++epoch) {
//     loader.start_epoch(epoch);
//     while (auto batch = loader.next()) train_step(*batch);
//   }
//
// Determinism: the order of an epoch depends only on (seed, epoch, rank, world_size) and is the
// order of PyTorch's DistributedSampler (torch.randperm with a generator seeded seed + epoch,
// torch 1.13's CPU algorithm: mt19937, Fisher-Yates from the front); per-sample randomness
// (the caption drawn for MSR-VTT without expand_msrvtt_sentences, frame_order 2) is a hash of
// (seed, epoch, sample). Batches are therefore identical whatever the thread count.
//
// A video that cannot be decoded gives all-zero frames and a zero mask, as the original does, but
// is reported (on_video_problem, and Loader::problems()); with `drop_failed` its row is left out of
// the batch instead (training: an all-zero video is a NaN feature in the original's model); with
// `strict` it is an error, raised from next().
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "xclip/core/tensor.hpp"
#include "xclip/data/batch.hpp"
#include "xclip/data/dataset.hpp"
#include "xclip/data/frame_cache.hpp"
#include "xclip/data/video.hpp"

namespace xclip::text {
class ClipTokenizer;
}

namespace xclip::data {

// Text -> exactly max_words ids and mask: SOT, the caption's BPE ids cut to max_words - 2, EOT,
// zero padding (spec §4.3). Called from worker threads at the same time: must be thread-safe.
struct EncodedText {
  std::vector<int64_t> input_ids, attention_mask;
};
using TextEncoder = std::function<EncodedText(const std::string& caption, int max_words)>;
// The CLIP tokenizer as a TextEncoder (its encode_for_model; the tokenizer is thread-safe).
TextEncoder clip_text_encoder(std::shared_ptr<const text::ClipTokenizer> tokenizer);

struct LoaderOptions {
  int64_t batch_size = 32;
  bool shuffle = false;       // training: true (DistributedSampler); evaluation: false
  bool drop_last = false;     // training: true (the original drops the last partial batch)
  uint64_t seed = 0;          // the DistributedSampler seed (the original uses its default 0)
  int64_t world_size = 1, rank = 0;  // DistributedSampler partition (pads by repeating, as torch)
  int threads = 4;            // worker threads (each video decoded with sampling.decode_threads)
  int prefetch_batches = 2;   // batches decoded ahead of the consumer (bounds the memory)
  int max_words = 32;
  FrameSampling sampling;     // max_frames, slice_framepos, frame_order, rule, size, ...
  // What an item is: a (clip, caption) sample, or a clip alone (video features for a
  // multi-sentence evaluation, where each clip is encoded once; no text tensors then).
  enum Items { samples, clips } items = samples;
  bool with_video = true;     // false: text only (no decoding at all)
  bool raw_frames = false;    // video as uint8 [B, F, size, size, 3] (normalise on the device)
  bool strict = false;        // an undecodable video stops the loader with an error
  // An undecodable video's row is removed from its batch (the batch is smaller; a batch with no
  // row left is not handed out). The rows kept, and so the batches, stay the same for any thread
  // count. Training uses it; evaluation keeps the rows (the pairs are left out of the metrics).
  bool drop_failed = false;
  std::shared_ptr<const FrameCache> cache;  // read frames here instead of decoding the videos
  // Called (from a worker, under a lock) once per clip that could not be decoded. Default:
  // a line on stderr.
  std::function<void(const VideoProblem&)> on_video_problem;
};

// ---- pieces shared with the frame cache and exposed for tests --------------------------------

// torch.randperm(n, generator seeded with `seed`) as torch 1.13 computes it on the CPU.
std::vector<int64_t> torch_randperm(int64_t n, uint64_t seed);
// The items one rank visits in one epoch, as DistributedSampler(shuffle, seed).set_epoch(epoch).
std::vector<int64_t> distributed_sampler_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch,
                                               int64_t world_size, int64_t rank);
// A 64-bit hash of (seed, epoch, item, salt) for per-sample random choices.
uint64_t sample_random(uint64_t seed, int64_t epoch, int64_t item, uint64_t salt);
// The caption a sample uses in an epoch (its only caption, or a seeded draw among several).
const std::string& caption_for_epoch(const Sample& sample, uint64_t seed, int64_t epoch, int64_t sample_index);
// Decodes one clip with its time span (as the original's integer seconds), frame_order 0.
VideoFrames decode_clip(const Clip& clip, FrameSampling sampling);

class Loader {
 public:
  // `dataset` must outlive the loader. `encoder` may be empty with Items::clips.
  Loader(const Dataset& dataset, LoaderOptions options, TextEncoder encoder = {});
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t items_per_epoch() const;     // for this rank
  int64_t batches_per_epoch() const;
  // Starts producing the batches of `epoch` (a running epoch is abandoned first).
  void start_epoch(int64_t epoch);
  // The next batch in order, nullopt at the end of the epoch. Rethrows a worker's error.
  std::optional<Batch> next();

  // Every clip that could not be decoded so far (id, file, reason), once per clip.
  std::vector<VideoProblem> problems() const;
  // The same clips as dataset clip indices, in the same order.
  std::vector<int64_t> failed_clips() const;
  const LoaderOptions& options() const { return options_; }

 private:
  struct Pending;
  void stop_workers();
  std::optional<Batch> next_complete();  // the next batch as the workers filled it
  void worker_loop();
  bool claim_unit(int64_t& unit);
  bool fill_unit(int64_t unit, Pending& batch);  // false when the video failed (zeros)
  bool fill_video(Batch& batch, int64_t row, int64_t item);
  void fill_text(Batch& batch, int64_t row, int64_t item);
  Pending& pending_for(int64_t batch_index);
  void report_problem(int64_t clip, const std::string& reason);
  int64_t item_count() const;
  int64_t unit_count() const;

  const Dataset& dataset_;
  LoaderOptions options_;
  TextEncoder encoder_;

  mutable std::mutex mutex_;
  std::condition_variable work_cv_, ready_cv_;
  std::vector<std::thread> workers_;
  std::vector<int64_t> cache_index_;  // dataset clip -> cache clip (with a cache)
  std::vector<int64_t> order_;     // this epoch's items
  int64_t epoch_ = -1;
  int64_t batches_ = 0;
  int64_t next_unit_ = 0;          // next (batch, row) to claim, as a position in order_
  int64_t consumed_ = 0;           // batches handed to the consumer
  bool stopping_ = false;
  std::exception_ptr error_;
  int64_t error_batch_ = 0;  // the earliest batch a worker failed in: earlier batches are still delivered
  std::map<int64_t, std::unique_ptr<Pending>> pending_;  // batch index -> batch being filled
  std::set<int64_t> reported_clips_;
  std::vector<VideoProblem> problems_;
  std::vector<int64_t> problem_clips_;  // parallel to problems_
  // Video buffers of earlier batches. One whose only owner is this list (the consumer dropped
  // the batch) is reused: a fresh 0.5 GB batch would pay its page faults on every batch.
  std::vector<std::shared_ptr<Storage>> video_buffers_;
  Tensor video_tensor(const Shape& shape, DType dtype);
};

}  // namespace xclip::data
