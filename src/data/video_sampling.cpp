// Shared pieces of the frame rules: the held frame -> CLIP crop, and read_selected(), which finds
// how many frames a rule yields while decoding only the ones slice_framepos keeps.
#include <algorithm>
#include <map>
#include <set>

#include "xclip/core/error.hpp"
#include "xclip/data/image.hpp"
#include "xclip/data/video_sampling.hpp"

namespace xclip::data {
namespace {

// Rotates packed RGB by 90/180/270 degrees clockwise (OpenCV's auto-orientation).
void rotate_rgb(const std::vector<uint8_t>& in, int w, int h, int degrees, std::vector<uint8_t>& out, int* out_w,
                int* out_h) {
  const bool quarter = degrees == 90 || degrees == 270;
  *out_w = quarter ? h : w;
  *out_h = quarter ? w : h;
  out.resize(in.size());
  for (int y = 0; y < *out_h; ++y) {
    for (int x = 0; x < *out_w; ++x) {
      int sx = x, sy = y;
      if (degrees == 90) sx = y, sy = h - 1 - x;
      else if (degrees == 180) sx = w - 1 - x, sy = h - 1 - y;
      else if (degrees == 270) sx = w - 1 - y, sy = x;
      const uint8_t* p = in.data() + (size_t(sy) * size_t(w) + size_t(sx)) * 3;
      uint8_t* q = out.data() + (size_t(y) * size_t(*out_w) + size_t(x)) * 3;
      q[0] = p[0], q[1] = p[1], q[2] = p[2];
    }
  }
}

// Remembers every read (frames and failures) so that re-planning never decodes twice.
class ReadCache {
 public:
  explicit ReadCache(FrameSource& source) : source_(source) {}
  bool read(int k) {
    if (frames_.count(k)) return true;
    if (failed_.count(k)) return false;
    SampledFrame f;
    if (source_.read(k, f)) {
      frames_.emplace(k, std::move(f));
      return true;
    }
    failed_.insert(k);
    return false;
  }
  SampledFrame take(int k) { return std::move(frames_.at(k)); }

 private:
  FrameSource& source_;
  std::map<int, SampledFrame> frames_;
  std::set<int> failed_;
};

// Reads succeed up to some count n and fail from there on (the original stops at the first
// failure). Given read `ok` succeeded (or -1) and read `bad` failed, the first failure in between.
int first_failure(ReadCache& cache, int ok, int bad) {
  while (bad - ok > 1) {
    const int mid = ok + (bad - ok) / 2;
    if (cache.read(mid)) ok = mid;
    else bad = mid;
  }
  return bad;
}

// Read `ok` succeeded: gallop forward to bracket the first failure (at most `limit`).
int grow_count(ReadCache& cache, int ok, int limit) {
  int step = 1;
  while (ok + step < limit && cache.read(ok + step)) {
    ok += step;
    step *= 2;
  }
  return first_failure(cache, ok, std::min(ok + step, limit));
}

}  // namespace

void crop_held_frame(VideoDecoder& decoder, int size, std::vector<uint8_t>& rgb_scratch, std::vector<uint8_t>& out) {
  const size_t stride = decoder.frame_to_rgb(rgb_scratch);
  int w = int(stride / 3), h = int(rgb_scratch.size() / stride);
  const uint8_t* pixels = rgb_scratch.data();
  size_t row_bytes = stride;
  std::vector<uint8_t> rotated;
  if (const int rot = decoder.facts().rotation; rot == 90 || rot == 180 || rot == 270) {
    rotate_rgb(rgb_scratch, w, h, rot, rotated, &w, &h);
    pixels = rotated.data();
    row_bytes = size_t(w) * 3;
  }
  out.resize(size_t(size) * size_t(size) * 3);
  clip_resize_crop(pixels, w, h, row_bytes, size, out.data());
}

std::vector<SampledFrame> read_selected(FrameSource& source, const FrameSampling& s, int* sampled) {
  ReadCache cache(source);
  const int limit = source.candidates();
  int n = std::clamp(source.expected(), 0, limit);
  // Each pass either confirms n or moves it to where a read proved it is; n only moves to a
  // bracketed first failure, so this ends after a few passes.
  for (int pass = 0; pass < 64; ++pass) {
    const std::vector<int> keep = slice_frame_indices(n, s.max_frames, s.slice_framepos);
    int previous = -1, failed_at = -1;
    for (int k : keep) {
      if (!cache.read(k)) {
        failed_at = k;
        break;
      }
      previous = k;
    }
    if (failed_at >= 0) {
      n = first_failure(cache, previous, failed_at);
      continue;
    }
    // The first max_frames do not depend on n once n exceeds max_frames: no need to find the end.
    const bool count_matters = !(s.slice_framepos == 0 && n > s.max_frames);
    if (count_matters && n > 0 && keep.back() != n - 1 && !cache.read(n - 1)) {
      n = first_failure(cache, keep.back(), n - 1);
      continue;
    }
    if (count_matters && n < limit && cache.read(n)) {
      n = grow_count(cache, n, limit);
      continue;
    }
    *sampled = n;
    std::vector<SampledFrame> frames;
    frames.reserve(keep.size());
    for (int k : keep) frames.push_back(cache.take(k));
    return frames;
  }
  throw Error("frame sampling did not settle on a frame count (inconsistent reads)");
}

}  // namespace xclip::data
