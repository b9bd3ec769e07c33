// The parallel batch loader (see loader.hpp).
//
// Work is split into units, one per (batch, row): unit u is row u % B of batch u / B and holds
// item order_[u]. Workers claim units in increasing order but only while the unit's batch is
// within `prefetch_batches` of the batch the consumer waits for, which bounds the memory; each
// unit writes its own disjoint rows of the batch tensors, so the content of a batch does not
// depend on which thread filled which row.
#include <algorithm>
#include <cstring>
#include <iostream>
#include <numeric>

#include "xclip/core/error.hpp"
#include "xclip/data/loader.hpp"

namespace xclip::data {

struct Loader::Pending {
  Batch batch;
  int64_t remaining = 0;
  std::vector<int64_t> failed_rows;  // rows whose video could not be decoded
};

namespace {

constexpr uint64_t kFrameOrderSalt = 2;

void default_problem_report(const VideoProblem& p) {
  std::cerr << "xclip: video " << p.video_id << " skipped (zero frames): " << p.reason << "\n";
}

// The first `rows` rows of a CPU tensor, sharing its storage (rows are contiguous and leading).
Tensor first_rows(const Tensor& t, int64_t rows) {
  return Tensor::from_storage(t.storage(), 0, t.shape().with_dim(0, rows), t.dtype());
}

// Moves row `from` of a CPU tensor onto row `to` (to < from).
void move_row(Tensor& t, int64_t from, int64_t to) {
  const size_t row_bytes = size_t(t.numel() / t.dim(0)) * dtype_size(t.dtype());
  auto* base = static_cast<uint8_t*>(t.raw_data());
  std::memmove(base + size_t(to) * row_bytes, base + size_t(from) * row_bytes, row_bytes);
}

// Removes the given rows (sorted) from every part of a batch, keeping the order of the others.
void drop_rows(Batch& b, const std::vector<int64_t>& rows) {
  const int64_t n = int64_t(b.items.size());
  std::vector<bool> drop(size_t(n), false);
  for (int64_t r : rows) drop[size_t(r)] = true;
  int64_t kept = 0;
  for (int64_t r = 0; r < n; ++r) {
    if (drop[size_t(r)]) continue;
    if (kept != r) {
      for (Tensor* t : {&b.video, &b.video_mask, &b.input_ids, &b.attention_mask})
        if (t->defined()) move_row(*t, r, kept);
      b.items[size_t(kept)] = b.items[size_t(r)];
      if (!b.captions.empty()) b.captions[size_t(kept)] = std::move(b.captions[size_t(r)]);
    }
    ++kept;
  }
  b.items.resize(size_t(kept));
  if (!b.captions.empty()) b.captions.resize(size_t(kept));
  for (Tensor* t : {&b.video, &b.video_mask, &b.input_ids, &b.attention_mask})
    if (t->defined()) *t = first_rows(*t, kept);
}

}  // namespace

Loader::Loader(const Dataset& dataset, LoaderOptions options, TextEncoder encoder)
    : dataset_(dataset), options_(std::move(options)), encoder_(std::move(encoder)) {
  XCLIP_CHECK(options_.batch_size >= 1, "loader: batch_size must be >= 1, got ", options_.batch_size);
  XCLIP_CHECK(options_.threads >= 1, "loader: threads must be >= 1, got ", options_.threads);
  XCLIP_CHECK(options_.prefetch_batches >= 1, "loader: prefetch_batches must be >= 1");
  XCLIP_CHECK(options_.sampling.max_frames >= 1 && options_.sampling.size >= 1,
              "loader: max_frames and size must be >= 1");
  bool wants_text = options_.items == LoaderOptions::samples;
  XCLIP_CHECK(!wants_text || options_.max_words >= 2, "loader: max_words must be >= 2 (SOT and EOT)");
  XCLIP_CHECK(!wants_text || encoder_, "loader: a text encoder (tokenizer) is needed for caption samples");
  XCLIP_CHECK(options_.with_video || wants_text, "loader: nothing to load (no video and no text)");
  // Validates rank / world_size early.
  (void)distributed_sampler_order(0, false, 0, 0, options_.world_size, options_.rank);
  if (!options_.on_video_problem) options_.on_video_problem = default_problem_report;
  if (options_.cache && options_.with_video) {
    options_.cache->check_compatible(options_.sampling);
    std::vector<std::string> absent;
    for (const Clip& clip : dataset_.clips) {
      auto found = options_.cache->find(clip_key(clip));
      cache_index_.push_back(found.value_or(-1));
      if (!found) absent.push_back(clip_key(clip));
    }
    XCLIP_CHECK(absent.empty(), "loader: the frame cache ", options_.cache->dir().string(), " lacks ", absent.size(),
                " clip(s) of this dataset, e.g. '", absent.empty() ? "" : absent[0],
                "' (was it extracted from the same dataset and split?)");
  }
}

Loader::~Loader() { stop_workers(); }

int64_t Loader::item_count() const {
  return options_.items == LoaderOptions::clips ? int64_t(dataset_.clips.size()) : int64_t(dataset_.samples.size());
}

int64_t Loader::items_per_epoch() const {
  int64_t n = item_count();
  return n == 0 ? 0 : (n + options_.world_size - 1) / options_.world_size;
}

int64_t Loader::batches_per_epoch() const {
  int64_t n = items_per_epoch(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

int64_t Loader::unit_count() const {
  return options_.drop_last ? batches_ * options_.batch_size : int64_t(order_.size());
}

void Loader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = false;
  pending_.clear();
}

void Loader::start_epoch(int64_t epoch) {
  stop_workers();
  order_ = distributed_sampler_order(item_count(), options_.shuffle, options_.seed, epoch, options_.world_size,
                                     options_.rank);
  epoch_ = epoch;
  batches_ = batches_per_epoch();
  next_unit_ = 0;
  consumed_ = 0;
  error_ = nullptr;
  int64_t threads = std::min<int64_t>(options_.threads, std::max<int64_t>(unit_count(), 1));
  for (int64_t t = 0; t < threads; ++t) workers_.emplace_back([this] { worker_loop(); });
}

// Called under mutex_. A buffer held only by video_buffers_ cannot gain another owner meanwhile
// (nobody else has a copy), so use_count() == 1 is a safe test here.
Tensor Loader::video_tensor(const Shape& shape, DType dtype) {
  const size_t bytes = size_t(shape.numel()) * dtype_size(dtype);
  for (auto& buffer : video_buffers_)
    if (buffer.use_count() == 1 && buffer->bytes == bytes) return Tensor::from_storage(buffer, 0, shape, dtype);
  Tensor t = Tensor::empty(shape, dtype);
  // Enough for the batches in flight plus the one or two the consumer holds; older ones are freed.
  const size_t keep = size_t(options_.prefetch_batches) + 3;
  if (video_buffers_.size() >= keep) video_buffers_.erase(video_buffers_.begin());
  video_buffers_.push_back(t.storage());
  return t;
}

Loader::Pending& Loader::pending_for(int64_t batch_index) {
  auto it = pending_.find(batch_index);
  if (it != pending_.end()) return *it->second;
  const int64_t B = options_.batch_size, F = options_.sampling.max_frames, S = options_.sampling.size;
  const int64_t first = batch_index * B;
  const int64_t rows = std::min(B, unit_count() - first);
  auto p = std::make_unique<Pending>();
  p->remaining = rows;
  Batch& b = p->batch;
  b.index = batch_index;
  b.items.assign(order_.begin() + first, order_.begin() + first + rows);
  // Every row writes all of its bytes (padding included), so empty() is enough.
  if (options_.with_video) {
    b.video = options_.raw_frames ? video_tensor(Shape{rows, F, S, S, 3}, DType::u8)
                                  : video_tensor(Shape{rows, F, 3, S, S}, DType::f32);
    b.video_mask = Tensor::empty(Shape{rows, F}, DType::i64);
  }
  if (options_.items == LoaderOptions::samples) {
    b.captions.resize(size_t(rows));
    b.input_ids = Tensor::empty(Shape{rows, options_.max_words}, DType::i64);
    b.attention_mask = Tensor::empty(Shape{rows, options_.max_words}, DType::i64);
  }
  return *pending_.emplace(batch_index, std::move(p)).first->second;
}

bool Loader::claim_unit(int64_t& unit) {
  std::unique_lock<std::mutex> lock(mutex_);
  const int64_t B = options_.batch_size;
  work_cv_.wait(lock, [&] {
    return stopping_ || error_ || next_unit_ >= unit_count() ||
           next_unit_ / B < consumed_ + options_.prefetch_batches;
  });
  if (stopping_ || error_ || next_unit_ >= unit_count()) return false;
  unit = next_unit_++;
  pending_for(unit / B);
  return true;
}

void Loader::worker_loop() {
  int64_t unit = 0;
  while (claim_unit(unit)) {
    const int64_t batch_index = unit / options_.batch_size;
    Pending* p = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      p = pending_.at(batch_index).get();  // stable: erased only by the consumer once complete
    }
    bool video_ok = true;
    try {
      video_ok = fill_unit(unit, *p);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      // Keep the earliest failing batch: the batches before it were claimed first and finish, so a
      // consumer gets every batch up to the failure, the same for any thread count.
      if (!error_ || batch_index < error_batch_) {
        error_ = std::current_exception();
        error_batch_ = batch_index;
      }
      ready_cv_.notify_all();
      work_cv_.notify_all();
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (!video_ok) {
      ++p->batch.failed_videos;
      p->failed_rows.push_back(unit % options_.batch_size);
    }
    if (--p->remaining == 0) ready_cv_.notify_all();
  }
}

bool Loader::fill_unit(int64_t unit, Pending& p) {
  const int64_t row = unit % options_.batch_size;
  const int64_t item = order_[size_t(unit)];
  if (options_.items == LoaderOptions::samples) fill_text(p.batch, row, item);
  return options_.with_video ? fill_video(p.batch, row, item) : true;
}

void Loader::fill_text(Batch& b, int64_t row, int64_t item) {
  const Sample& sample = dataset_.samples[size_t(item)];
  const std::string& caption = caption_for_epoch(sample, options_.seed, epoch_, item);
  EncodedText enc = encoder_(caption, options_.max_words);
  const size_t L = size_t(options_.max_words);
  XCLIP_CHECK(enc.input_ids.size() == L && enc.attention_mask.size() == L, "loader: the text encoder returned ",
              enc.input_ids.size(), " ids and ", enc.attention_mask.size(), " mask values, expected ", L,
              " (caption of sample ", item, ")");
  std::memcpy(b.input_ids.data<int64_t>() + size_t(row) * L, enc.input_ids.data(), L * sizeof(int64_t));
  std::memcpy(b.attention_mask.data<int64_t>() + size_t(row) * L, enc.attention_mask.data(), L * sizeof(int64_t));
  b.captions[size_t(row)] = caption;
}

bool Loader::fill_video(Batch& b, int64_t row, int64_t item) {
  const int64_t clip = options_.items == LoaderOptions::clips ? item : dataset_.samples[size_t(item)].clip;
  const int F = options_.sampling.max_frames, S = options_.sampling.size;
  const size_t frame_bytes = size_t(S) * size_t(S) * 3;

  const uint8_t* rgb = nullptr;
  int frames = 0;
  VideoFrames decoded;
  std::string failure;
  if (options_.cache) {
    const int64_t at = cache_index_[size_t(clip)];
    FrameCache::ClipView view = options_.cache->clip(at);
    if (view.failed) {
      failure = "failed at extraction: " + options_.cache->failure_reason(at);
    } else {
      rgb = view.rgb;
      frames = view.frames;
    }
  } else {
    try {
      decoded = decode_clip(dataset_.clips[size_t(clip)], options_.sampling);
      XCLIP_CHECK(decoded.size == S && decoded.frames <= F, "decoder returned ", decoded.frames, " frames of ",
                  decoded.size, " px, expected at most ", F, " of ", S);
      rgb = decoded.rgb.data();
      frames = decoded.frames;
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  // A clip without a single frame (its span past the end, or its first sampled read failed) is an
  // all-zero video, which the model turns into a NaN feature: a failure like an undecodable one.
  if (failure.empty() && frames == 0)
    failure = format(dataset_.clips[size_t(clip)].path.string(), ": no frame at the sampled times");
  if (!failure.empty()) {
    const Clip& c = dataset_.clips[size_t(clip)];
    XCLIP_CHECK(!options_.strict, "loader (strict): video ", c.video_id, " (", c.path.string(), "): ", failure);
    report_problem(clip, failure);
    frames = 0;
  }

  std::vector<int> order(static_cast<size_t>(frames));
  std::iota(order.begin(), order.end(), 0);
  order = order_frames(std::move(order), options_.sampling.frame_order,
                       sample_random(options_.seed, epoch_, item, kFrameOrderSalt));

  int64_t* mask = b.video_mask.data<int64_t>() + size_t(row) * size_t(F);
  for (int f = 0; f < F; ++f) mask[f] = f < frames ? 1 : 0;
  if (options_.raw_frames) {
    uint8_t* out = b.video.data<uint8_t>() + size_t(row) * size_t(F) * frame_bytes;
    for (int f = 0; f < frames; ++f)
      std::memcpy(out + size_t(f) * frame_bytes, rgb + size_t(order[size_t(f)]) * frame_bytes, frame_bytes);
    std::memset(out + size_t(frames) * frame_bytes, 0, size_t(F - frames) * frame_bytes);
  } else {
    float* out = b.video.data<float>() + size_t(row) * size_t(F) * frame_bytes;
    for (int f = 0; f < frames; ++f)
      normalize_frames(rgb + size_t(order[size_t(f)]) * frame_bytes, 1, S, out + size_t(f) * frame_bytes);
    std::fill(out + size_t(frames) * frame_bytes, out + size_t(F) * frame_bytes, 0.0f);
  }
  return failure.empty();
}

void Loader::report_problem(int64_t clip, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!reported_clips_.insert(clip).second) return;
  const Clip& c = dataset_.clips[size_t(clip)];
  problems_.push_back({c.video_id, c.path.string(), reason});
  problem_clips_.push_back(clip);
  options_.on_video_problem(problems_.back());
}

std::vector<VideoProblem> Loader::problems() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return problems_;
}

std::vector<int64_t> Loader::failed_clips() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return problem_clips_;
}

std::optional<Batch> Loader::next() {
  // drop_failed: a batch whose every video failed has nothing to hand out; take the next one.
  for (;;) {
    std::optional<Batch> b = next_complete();
    if (!b || !options_.drop_failed || b->size() > 0) return b;
  }
}

std::optional<Batch> Loader::next_complete() {
  XCLIP_CHECK(epoch_ >= 0, "loader: call start_epoch() before next()");
  std::unique_lock<std::mutex> lock(mutex_);
  if (consumed_ >= batches_) return std::nullopt;
  ready_cv_.wait(lock, [&] {
    auto it = pending_.find(consumed_);
    if (it != pending_.end() && it->second->remaining == 0) return true;
    return error_ && error_batch_ <= consumed_;
  });
  auto ready = pending_.find(consumed_);
  if (ready == pending_.end() || ready->second->remaining != 0) {
    std::exception_ptr e = error_;
    lock.unlock();
    stop_workers();
    std::rethrow_exception(e);
  }
  auto node = pending_.extract(consumed_);
  ++consumed_;
  lock.unlock();
  work_cv_.notify_all();
  Pending& done = *node.mapped();
  if (options_.drop_failed && !done.failed_rows.empty()) {
    std::sort(done.failed_rows.begin(), done.failed_rows.end());
    drop_rows(done.batch, done.failed_rows);
  }
  return std::move(done.batch);
}

}  // namespace xclip::data
