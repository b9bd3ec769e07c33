// The data Loader behind the trainer's BatchSource (data/batch.hpp), and the loaders an
// evaluation of a dataset needs (pairs for single-sentence sets; every caption plus every clip
// once for multi-sentence sets, as the original's eval_epoch encodes them).
#pragma once
#include <memory>

#include "xclip/data/batch.hpp"
#include "xclip/data/loader.hpp"

namespace xclip::data {

class LoaderBatchSource : public BatchSource {
 public:
  // `dataset` must outlive the source. Raw uint8 frames are not accepted (the model takes
  // normalised f32).
  LoaderBatchSource(const Dataset& dataset, LoaderOptions options, TextEncoder encoder = {});
  int64_t batches_per_epoch() const override { return loader_.batches_per_epoch(); }
  int64_t samples_per_epoch() const override { return loader_.items_per_epoch(); }
  void start_epoch(int64_t epoch) override { loader_.start_epoch(epoch); }
  std::optional<Batch> next() override { return loader_.next(); }
  Loader& loader() { return loader_; }

 private:
  Loader loader_;
};

struct EvalLoaders {
  std::unique_ptr<LoaderBatchSource> texts, videos;  // videos empty: texts holds the pairs
  EvalInputs inputs;
};
// `base` gives batch_size (batch_size_val), threads, sampling, max_words, cache; shuffle and
// drop_last are turned off.
EvalLoaders make_eval_loaders(const Dataset& dataset, LoaderOptions base, TextEncoder encoder);

}  // namespace xclip::data
