#include "xclip/data/batch_source.hpp"

#include "xclip/core/error.hpp"

namespace xclip::data {

LoaderBatchSource::LoaderBatchSource(const Dataset& dataset, LoaderOptions options, TextEncoder encoder)
    : loader_(dataset, [&] {
        XCLIP_CHECK(!options.raw_frames, "LoaderBatchSource: the model takes normalised frames, not raw_frames");
        return std::move(options);
      }(), std::move(encoder)) {}

EvalLoaders make_eval_loaders(const Dataset& dataset, LoaderOptions base, TextEncoder encoder) {
  base.shuffle = false;
  base.drop_last = false;
  EvalLoaders out;
  if (!dataset.multi_sentence_per_video) {
    base.items = LoaderOptions::samples;
    base.with_video = true;
    out.texts = std::make_unique<LoaderBatchSource>(dataset, base, std::move(encoder));
    out.inputs.texts = out.inputs.videos = out.texts.get();
    return out;
  }
  // Every caption is a query; every clip is encoded once (the original encodes the video only at
  // each clip's cut-off row, which is the same set in the same order).
  LoaderOptions texts = base;
  texts.items = LoaderOptions::samples;
  texts.with_video = false;
  out.texts = std::make_unique<LoaderBatchSource>(dataset, texts, encoder);
  LoaderOptions videos = base;
  videos.items = LoaderOptions::clips;
  videos.with_video = true;
  out.videos = std::make_unique<LoaderBatchSource>(dataset, videos);
  out.inputs.texts = out.texts.get();
  out.inputs.videos = out.videos.get();
  out.inputs.multi_sentence = true;
  for (const Sample& s : dataset.samples) out.inputs.caption_video.push_back(s.clip);
  return out;
}

}  // namespace xclip::data
