// Epoch orders (PyTorch's DistributedSampler), per-sample random choices, and clip decoding.
#include <numeric>
#include <random>

#include "xclip/core/error.hpp"
#include "xclip/data/loader.hpp"
#include "xclip/text/tokenizer.hpp"

namespace xclip::data {

std::vector<int64_t> torch_randperm(int64_t n, uint64_t seed) {
  // torch 1.13 randperm_cpu: a 32-bit mt19937 seeded with the low 32 bits of the seed, then
  // for i in [0, n-1): swap(r[i], r[i + random() % (n - i)]). Checked against torch.randperm.
  std::vector<int64_t> r(size_t(std::max<int64_t>(n, 0)));
  std::iota(r.begin(), r.end(), int64_t(0));
  std::mt19937 engine(uint32_t(seed & 0xffffffffu));
  for (int64_t i = 0; i + 1 < n; ++i) {
    int64_t z = int64_t(engine() % uint64_t(n - i));
    std::swap(r[size_t(i)], r[size_t(i + z)]);
  }
  return r;
}

std::vector<int64_t> distributed_sampler_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch,
                                               int64_t world_size, int64_t rank) {
  XCLIP_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "loader: rank ", rank, " is outside world_size ",
              world_size);
  std::vector<int64_t> indices;
  if (shuffle) {
    indices = torch_randperm(n, seed + uint64_t(epoch));
  } else {
    indices.resize(size_t(n));
    std::iota(indices.begin(), indices.end(), int64_t(0));
  }
  if (n == 0) return indices;
  // Without drop_last the sampler pads to a multiple of world_size by repeating from the start.
  const int64_t per_rank = (n + world_size - 1) / world_size;
  const int64_t total = per_rank * world_size;
  for (int64_t k = 0; int64_t(indices.size()) < total; ++k) indices.push_back(indices[size_t(k % n)]);
  std::vector<int64_t> mine;
  mine.reserve(size_t(per_rank));
  for (int64_t i = rank; i < total; i += world_size) mine.push_back(indices[size_t(i)]);
  return mine;
}

static uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t sample_random(uint64_t seed, int64_t epoch, int64_t item, uint64_t salt) {
  uint64_t h = splitmix64(seed ^ 0x5851f42d4c957f2dull);
  h = splitmix64(h ^ uint64_t(epoch));
  h = splitmix64(h ^ uint64_t(item));
  return splitmix64(h ^ salt);
}

const std::string& caption_for_epoch(const Sample& sample, uint64_t seed, int64_t epoch, int64_t sample_index) {
  XCLIP_CHECK(!sample.captions.empty(), "loader: sample ", sample_index, " has no caption");
  if (sample.captions.size() == 1) return sample.captions[0];
  uint64_t r = sample_random(seed, epoch, sample_index, /*salt=*/1);
  return sample.captions[size_t(r % sample.captions.size())];
}

TextEncoder clip_text_encoder(std::shared_ptr<const text::ClipTokenizer> tokenizer) {
  XCLIP_CHECK(tokenizer != nullptr, "clip_text_encoder: no tokenizer");
  return [tokenizer](const std::string& caption, int max_words) {
    text::ModelText t = tokenizer->encode_for_model(caption, max_words);
    return EncodedText{std::move(t.input_ids), std::move(t.input_mask)};
  };
}

VideoFrames decode_clip(const Clip& clip, FrameSampling sampling) {
  sampling.frame_order = 0;  // the order is applied by the caller (the same for cache and video)
  if (auto span = clip_seconds(clip)) {
    sampling.start_sec = double(span->start);
    sampling.end_sec = double(span->end);
  } else {
    sampling.start_sec = sampling.end_sec = -1;
  }
  return load_frames(clip.path.string(), sampling);
}

}  // namespace xclip::data
