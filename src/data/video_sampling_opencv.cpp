// The original frame rule, RawVideoExtractorCV2.video_to_tensor over OpenCV 4.6's FFmpeg backend
// (modules/videoio/src/cap_ffmpeg_impl.hpp), emulated step by step:
//   CAP_PROP_FPS         = avg_frame_rate (else 1 / time base); Python truncates it to int.
//   CAP_PROP_FRAME_COUNT = nb_frames, else floor(duration * fps + 0.5).
//   set(POS_FRAMES, N)   = seek(N): N = min(N, frame count); seek (backward) to the time of frame
//                          N - delta (delta = 16, growing while the landing frame is past N - 1),
//                          number the first decoded frame from its timestamp, decode forward to N-1.
//   read()               = decode the next frame.
// Frame numbers use OpenCV's "picture_pts": pts unless it is missing or 0, then pkt_dts.
#include <algorithm>
#include <climits>
#include <cmath>

#include "xclip/core/error.hpp"
#include "xclip/data/video_sampling.hpp"

namespace xclip::data {
namespace {

constexpr double kEpsZero = 0.000025;  // OpenCV's eps_zero

double opencv_fps(const StreamFacts& f) {
  double fps = f.avg_fps;
  if (fps < kEpsZero && f.tb_num > 0) fps = double(f.tb_den) / double(f.tb_num);
  return fps;
}

int64_t opencv_frame_count(const StreamFacts& f, double fps) {
  if (f.nb_frames != 0) return f.nb_frames;
  double sec = f.container_duration_sec;
  if (sec < kEpsZero) sec = f.stream_duration_sec;
  return int64_t(std::floor(sec * fps + 0.5));
}

class OpenCvIndexSource final : public FrameSource {
 public:
  OpenCvIndexSource(VideoDecoder& decoder, const FrameSampling& s) : dec_(decoder), size_(s.size) {
    const StreamFacts& f = dec_.facts();
    fps_ = opencv_fps(f);
    total_ = opencv_frame_count(f, fps_);
    tb_ = f.tb_den == 0 ? 0.0 : double(f.tb_num) / double(f.tb_den);
    start_time_ = f.start_time == kNoTimestamp ? 0 : f.start_time;
    const int fps_int = int(fps_);  // Python: int(cap.get(cv2.CAP_PROP_FPS))
    if (fps_int <= 0)
      throw Error(format(dec_.path(), ": frame rate ", fps_, " gives int(fps) = 0; the original frame rule ",
                         "cannot sample it (use the time rule)"));
    build_targets(s, fps_int);
  }

  int candidates() const override { return int(targets_.size()); }
  int expected() const override {
    return int(std::count_if(targets_.begin(), targets_.end(), [&](int64_t t) { return t < total_; }));
  }
  std::string describe(int k) const override { return format("frame ", targets_[size_t(k)]); }

  bool read(int k, SampledFrame& out) override {
    const int64_t n = std::min(targets_[size_t(k)], total_);
    if (!position_for(n)) return false;
    // Frames lost to damaged data since the seek shift OpenCV's count: the held frame is from a
    // later time than frame n. Such a read fails (the original stops at its first failed read),
    // as does one whose frame was itself decoded with errors.
    if (dec_.lost_frames() > 0 || dec_.frame_damaged()) return false;
    out.second = double(picture_pts() - start_time_) * tb_;
    crop_held_frame(dec_, size_, rgb_, out.crop);
    return true;
  }

 private:
  // Targets exactly as the Python loop computes them: for sec in np.arange(start, end + 1), for ind
  // in inds: int(sec * fps) + ind.
  void build_targets(const FrameSampling& s, int fps) {
    const int64_t total_duration = (total_ + fps - 1) / fps;
    double start = 0, end = double(total_duration);
    if (s.start_sec >= 0) {
      start = s.start_sec;
      end = s.end_sec >= 0 && s.end_sec <= double(total_duration) ? s.end_sec : double(total_duration);
    }
    int sample_fp = s.feature_framerate;
    int interval = 1;
    if (sample_fp > 0) interval = fps / sample_fp;
    else sample_fp = fps;
    if (interval == 0) interval = 1;
    std::vector<int> inds;
    for (int i = 0; i < fps && int(inds.size()) < sample_fp; i += interval) inds.push_back(i);
    const int64_t seconds = int64_t(std::ceil(end + 1 - start));
    for (int64_t i = 0; i < seconds; ++i) {
      const double sec = start + double(i);
      const int64_t base = int64_t(sec * fps);
      for (int ind : inds) targets_.push_back(base + ind);
    }
  }

  int64_t picture_pts() const {
    const int64_t pts = dec_.frame_pts();
    return pts != kNoTimestamp && pts != 0 ? pts : dec_.frame_pkt_dts();
  }

  // dts_to_frame_number; a missing timestamp numbers as "negative" (OpenCV's overflowing
  // arithmetic gives a large negative number there too).
  int64_t frame_number_of(int64_t ts) const {
    if (ts == kNoTimestamp) return INT64_MIN / 2;
    return int64_t(fps_ * (double(ts - start_time_) * tb_) + 0.5);
  }

  bool grab() {
    if (!dec_.next_frame()) {
      seq_.ended = true;
      return false;
    }
    ++seq_.offset;
    return true;
  }

  // The sequence of frames decoded since the last real seek (or since opening).
  struct Sequence {
    bool valid = false;
    PacketKey key;
    bool anchor_known = false;
    int64_t anchor_number = 0;  // frame_number_of(picture_pts) of the first frame, if any
    bool anchor_ok = false;     // the first grab after the seek succeeded
    int64_t offset = -1;        // frames grabbed since the seek, minus one (held frame's offset)
    bool ended = false;
  };

  // OpenCV only calls av_seek_frame when the frame count is above 1; it always flushes.
  void real_seek(int64_t ts) {
    if (total_ > 1) dec_.seek(ts);
    else dec_.flush();
    seq_ = Sequence{};
    seq_.valid = true;
  }

  // Grabs the first frame after a real seek (OpenCV's grab inside seek()).
  void grab_anchor() {
    seq_.anchor_ok = grab();
    seq_.anchor_known = true;
    seq_.anchor_number = seq_.anchor_ok ? frame_number_of(picture_pts()) : INT64_MIN / 2;
    if (!seq_.key.valid) seq_.key = dec_.sequence_key();
  }

  // Would a real seek to `ts` restart the sequence the decoder is in? Then the anchor is known
  // and the decoder can go on from where it is.
  bool same_sequence(int64_t ts) {
    if (!seq_.valid || !seq_.anchor_known || total_ <= 1) return false;
    if (!seq_.key.valid) seq_.key = dec_.sequence_key();
    return dec_.landing_of(ts) == seq_.key;
  }

  // Leaves the decoder holding the frame OpenCV's read() returns after set(POS_FRAMES, n).
  bool position_for(int64_t n) {
    if (first_frame_number_ < 0 && total_ > 1) initial_grab();
    int64_t delta = 16;
    for (;;) {
      const int64_t temp = std::max<int64_t>(n - delta, 0);
      const double sec = double(temp) / fps_;
      const int64_t ts = start_time_ + int64_t(sec / tb_ + 0.5);
      // The frame to return, as an offset from the seek's first frame.
      int64_t want = 0;
      bool retry = false;
      const bool reuse = same_sequence(ts);
      if (!reuse) {
        real_seek(ts);
        if (n > 0) grab_anchor();
      }
      if (n == 0) {
        want = 0;
      } else if (n == 1) {
        want = 1;
      } else {
        const int64_t fn = seq_.anchor_ok ? seq_.anchor_number - first_frame_number_ : INT64_MIN / 2;
        if (fn < 0 || fn > n - 1) {
          if (temp == 0 || delta >= INT_MAX / 4) want = 1;  // OpenCV gives up and reads on
          else retry = true;
        } else {
          want = n - fn;
        }
      }
      if (retry) {
        delta = delta < 16 ? delta * 2 : delta * 3 / 2;
        continue;
      }
      return frame_at_offset(ts, n, want);
    }
  }

  // Decodes forward to the frame `want` frames after the seek point; re-seeks when the decoder is
  // already past it. The anchor (offset 0) is held until the next grab.
  bool frame_at_offset(int64_t ts, int64_t n, int64_t want) {
    if (seq_.offset > want || (seq_.offset == want && !dec_.has_frame())) {
      real_seek(ts);
      if (n > 0) grab_anchor();
    }
    if (seq_.offset == want && dec_.has_frame()) return true;
    if (seq_.ended) return false;
    while (seq_.offset < want)
      if (!grab()) return false;
    return true;
  }

  // OpenCV grabs one frame before its first seek to learn first_frame_number; a negative
  // number (a first frame whose pts is 0 and dts negative) makes it try again on the next seek.
  void initial_grab() {
    if (!seq_.valid) {  // the decoder is at the start of the file, as if sought there
      seq_.valid = true;
      seq_.offset = -1;
    }
    if (!grab()) return;
    const int64_t number = frame_number_of(picture_pts());
    if (seq_.offset == 0) {
      seq_.anchor_known = true;
      seq_.anchor_ok = true;
      seq_.anchor_number = number;
      seq_.key = dec_.sequence_key();
    }
    first_frame_number_ = number;
  }

  VideoDecoder& dec_;
  int size_;
  double fps_ = 0, tb_ = 0;
  int64_t total_ = 0, start_time_ = 0;
  int64_t first_frame_number_ = -1;
  std::vector<int64_t> targets_;
  Sequence seq_;
  std::vector<uint8_t> rgb_;
};

}  // namespace

std::unique_ptr<FrameSource> make_opencv_index_source(VideoDecoder& decoder, const FrameSampling& sampling) {
  return std::make_unique<OpenCvIndexSource>(decoder, sampling);
}

}  // namespace xclip::data
