// A tiny X-CLIP and an in-memory, learnable retrieval task for the trainer and evaluation tests:
// sample i belongs to class i % classes; its caption is [SOT, 10 + class, EOT] and its video shows
// a class-dependent colour pattern (plus noise fixed per sample). The order of an epoch is a
// seeded shuffle of (seed, epoch), as the data Loader's contract promises.
#pragma once
#include <algorithm>
#include <filesystem>
#include <memory>
#include <numeric>
#include <optional>
#include <vector>

#include "xclip/models/model.hpp"
#include "xclip/models/build.hpp"
#include "xclip/train/evaluate.hpp"
#include "xclip/train/trainer.hpp"

namespace xclip::test {

constexpr int64_t kVocab = 64, kEot = 63, kSot = 62;
constexpr int64_t kWords = 6, kFrames = 4, kRes = 8;

inline models::ClipConfig tiny_clip_config() {
  models::ScratchClipOptions o;
  o.vision_width = 32;
  o.vision_layers = 1;
  o.patch = 4;
  o.image_resolution = kRes;
  o.text_width = 32;
  o.text_layers = 1;
  o.embed_dim = 32;
  o.head_width = 16;
  o.context_length = 16;
  o.vocab_size = kVocab;
  return models::scratch_clip_config(o);
}

inline models::HeadConfig tiny_xclip_config(const std::string& sim_header = "seqTransf") {
  models::HeadConfig c;
  c.sim_header = sim_header;
  c.max_words = kWords;
  c.max_frames = kFrames;
  c.cross_num_hidden_layers = 1;
  c.temporal_heads = 2;  // width 32 / head width 16, as the towers
  c.batch_size_val = 5;  // several blocks in the evaluation tests
  return c;
}

inline std::unique_ptr<models::RetrievalModel> tiny_model(uint64_t seed, const std::string& sim_header = "seqTransf") {
  return models::from_scratch(tiny_clip_config(), tiny_xclip_config(sim_header), seed);
}

// Training options for the tests: quiet (no progress lines), lr 3e-3 everywhere (coef_lr 1: the
// tiny CLIP trains from scratch), `epochs` epochs into `dir`.
inline train::TrainOptions quiet_train_options(const std::filesystem::path& dir, int64_t epochs) {
  train::TrainOptions o;
  o.output_dir = dir;
  o.epochs = epochs;
  o.lr = 3e-3;
  o.coef_lr = 1.0;
  o.n_display = 0;
  o.print = [](const std::string&) {};
  return o;
}

// Text and video of one sample.
inline void fill_sample(int64_t sample, int64_t classes, int64_t* ids, int64_t* mask, float* video, int64_t* vmask) {
  const int64_t c = sample % classes;
  std::fill(ids, ids + kWords, 0);
  std::fill(mask, mask + kWords, 0);
  ids[0] = kSot;
  ids[1] = 10 + c;
  ids[2] = kEot;
  mask[0] = mask[1] = mask[2] = 1;
  Generator noise(1000 + uint64_t(sample));
  for (int64_t f = 0; f < kFrames; ++f) {
    for (int64_t ch = 0; ch < 3; ++ch)
      for (int64_t p = 0; p < kRes * kRes; ++p) {
        // Class c lights channel c % 3 in the row band c / 3, moving down one row per frame.
        const int64_t row = p / kRes;
        const bool on = ch == c % 3 && (row + f) % kRes / 2 == (c / 3) % (kRes / 2);
        video[(f * 3 + ch) * kRes * kRes + p] = (on ? 1.5f : -0.5f) + 0.1f * float(noise.next_normal());
      }
    vmask[f] = 1;
  }
}

class ToySource : public data::BatchSource {
 public:
  ToySource(int64_t samples, int64_t batch_size, int64_t classes, uint64_t seed = 0)
      : samples_(samples), batch_(batch_size), classes_(classes), seed_(seed) {}
  int64_t batches_per_epoch() const override { return samples_ / batch_; }  // drop_last
  int64_t samples_per_epoch() const override { return samples_; }
  void start_epoch(int64_t epoch) override {
    order_.resize(size_t(samples_));
    std::iota(order_.begin(), order_.end(), 0);
    if (shuffle) {
      Generator g(seed_ * 1000003 + uint64_t(epoch));
      for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[size_t(g.next_u64() % i)]);
    }
    epoch_ = epoch;
    next_ = 0;
  }
  std::optional<data::Batch> next() override {
    const int64_t b = drop_last ? batch_ : std::min(batch_, samples_ - next_);
    if (next_ + (drop_last ? batch_ : 1) > samples_) return std::nullopt;
    data::Batch out;
    out.input_ids = Tensor::zeros(Shape{b, kWords}, DType::i64);
    out.attention_mask = Tensor::zeros(Shape{b, kWords}, DType::i64);
    out.video = Tensor::zeros(Shape{b, kFrames, 3, kRes, kRes});
    out.video_mask = Tensor::zeros(Shape{b, kFrames}, DType::i64);
    for (int64_t r = 0; r < b; ++r)
      fill_sample(order_[size_t(next_ + r)], classes_, out.input_ids.data<int64_t>() + r * kWords,
                  out.attention_mask.data<int64_t>() + r * kWords, out.video.data<float>() + r * kFrames * 3 * kRes * kRes,
                  out.video_mask.data<int64_t>() + r * kFrames);
    if (poison_epoch == epoch_ && poison_batch == next_ / batch_) out.video.data<float>()[0] = NAN;
    next_ += b;
    return out;
  }

  bool shuffle = true, drop_last = true;
  int64_t poison_epoch = -1, poison_batch = -1;  // a NaN pixel in this batch

 private:
  int64_t samples_, batch_, classes_;
  uint64_t seed_;
  std::vector<int64_t> order_;
  int64_t epoch_ = -1, next_ = 0;
};

// Text-to-video R@1 on the toy task's 8 pairs (8 classes, chance 12.5) before and after `epochs`
// epochs on 48 samples in batches of 8 (no checkpoints written).
struct ToyTraining {
  double r1_before = 0, r1_after = 0;
  bool stopped_non_finite = false;
};
inline ToyTraining train_on_toy_task(models::RetrievalModel& model, const std::filesystem::path& dir, int64_t epochs) {
  ToySource train_set(48, 8, 8);
  train::TrainOptions o = quiet_train_options(dir, epochs);
  o.save_checkpoints = false;
  ToySource pairs(8, 8, 8);
  pairs.shuffle = false;
  data::EvalInputs in;
  in.texts = in.videos = &pairs;
  ToyTraining r;
  r.r1_before = train::evaluate(model, in).t2v.r1;
  r.stopped_non_finite = train::Trainer(model, train_set, o).run().stopped_non_finite;
  r.r1_after = train::evaluate(model, in).t2v.r1;
  return r;
}

}  // namespace xclip::test
