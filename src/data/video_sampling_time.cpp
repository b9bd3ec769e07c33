// Time rule: for each whole second s, the first frame in decoder output order whose time
// t = (best_effort_timestamp - first frame's) * time_base satisfies t >= s, compared exactly.
// A frame without a timestamp gets the previous frame's time plus the previous interval.
// Reads seek (backward, to the key frame before s) unless decoding on from the current position
// is at least as short, i.e. the demuxer is already past the key frame a seek would land on.
#include <cmath>
#include <limits>

#include "xclip/core/error.hpp"
#include "xclip/data/video_sampling.hpp"

namespace xclip::data {
namespace {

class TimeSource final : public FrameSource {
 public:
  TimeSource(VideoDecoder& decoder, const FrameSampling& s) : dec_(decoder), size_(s.size) {
    const StreamFacts& f = dec_.facts();
    tb_num_ = f.tb_num;
    tb_den_ = f.tb_den;
    XCLIP_CHECK(tb_num_ > 0 && tb_den_ > 0, dec_.path(), ": video stream has no time base");
    start_ = s.start_sec >= 0 ? s.start_sec : 0.0;
    if (s.end_sec >= 0) candidates_ = s.end_sec < start_ ? 0 : int(std::floor(s.end_sec - start_)) + 1;
    // The first frame fixes time zero; the decoder is at the start of the file.
    if (!dec_.next_frame()) throw Error(format(dec_.path(), ": no video frame could be decoded"));
    // The file's first frames were lost to damaged data: no time can be measured from this one.
    start_lost_ = dec_.lost_frames() > 0;
    first_ts_ = dec_.frame_best_effort();
    if (first_ts_ == kNoTimestamp) first_ts_ = 0;
    state_ = State{true, first_ts_, 0, -std::numeric_limits<long double>::infinity(), 0};
    expected_ = estimate_expected(f);
  }

  int candidates() const override { return candidates_; }
  int expected() const override { return expected_; }
  std::string describe(int k) const override { return format("second ", start_ + k); }

  bool read(int k, SampledFrame& out) override {
    const long double s = (long double)start_ + k;
    if (start_lost_ || !position_for(s)) return false;
    // A frame lost to damaged data at or after s (and so before the held one) was the answer; the
    // held frame would stand in for it from a later time. Fails too when decoded with errors.
    const int64_t lost = dec_.last_lost_pts();
    if ((lost != kNoTimestamp && at_or_after(lost, s)) || dec_.frame_damaged()) return false;
    out.second = double(state_.t);
    crop_held_frame(dec_, size_, rgb_, out.crop);
    return true;
  }

 private:
  // Decoder position: `t` is the held frame's time, `prev_t` the frame before it (in this run of
  // decoding), `interval` the last gap (for frames without timestamps).
  struct State {
    bool valid = false;
    int64_t ts = 0;
    long double t = 0, prev_t = 0, interval = 0;
  };

  int estimate_expected(const StreamFacts& f) const {
    const double fps = f.avg_fps > 0 ? f.avg_fps : f.r_fps;
    double duration = f.stream_duration_sec > 0 ? f.stream_duration_sec : f.container_duration_sec;
    if (duration <= 0) return std::min(candidates_, 1);
    const double last = duration - (fps > 0 ? 1.0 / fps : 0.0);
    const double n = std::floor(last - start_) + 1;
    if (n <= 0) return 0;
    return int(std::min<double>(n, candidates_));
  }

  long double time_of(int64_t ts) const {
    return (long double)(ts - first_ts_) * tb_num_ / tb_den_;
  }

  // Exact: (ts - first) * num / den >= s  <=>  (ts - first) * num >= s * den (den > 0).
  bool at_or_after(int64_t ts, long double s) const {
    return (long double)(ts - first_ts_) * tb_num_ >= s * tb_den_;
  }

  // Decodes the next frame and updates the state; false at the end.
  bool advance() {
    if (!dec_.next_frame()) return false;
    int64_t ts = dec_.frame_best_effort();
    state_.prev_t = state_.t;
    if (ts == kNoTimestamp) {
      // No timestamp: previous time plus the previous interval, kept in time-base units.
      const long double guess = state_.t + state_.interval;
      ts = first_ts_ + int64_t(std::llround(guess * tb_den_ / tb_num_));
    }
    const long double t = time_of(ts);
    state_.interval = t - state_.t;
    state_.t = t;
    state_.ts = ts;
    return true;
  }

  bool holds_answer(long double s) const {
    return state_.valid && dec_.has_frame() && at_or_after(state_.ts, s) && state_.prev_t < s;
  }

  // Going on from here reaches the answer: the held frame is before s.
  bool can_continue(long double s) const { return state_.valid && dec_.has_frame() && !at_or_after(state_.ts, s); }

  int64_t seek_ts(long double s) const {
    if (s <= 0) return first_ts_;
    return first_ts_ + int64_t(std::floor(s * tb_den_ / tb_num_));
  }

  // Would a seek land beyond where the demuxer already is? Then seeking saves decoding.
  bool seek_is_shorter(long double s) {
    const PacketKey landing = dec_.landing_of(seek_ts(s));
    const int64_t here = dec_.last_packet_dts();
    return landing.valid && landing.dts != kNoTimestamp && here != kNoTimestamp && landing.dts > here;
  }

  // Seeks so that the first decoded frame is at or before s (backing off further when a seek
  // lands after s), leaving that frame held.
  bool seek_before(long double s) {
    long double back = 0;
    for (int attempt = 0; attempt < 64; ++attempt) {
      const long double target = s - back;
      dec_.seek(seek_ts(target));
      state_ = State{true, 0, 0, -std::numeric_limits<long double>::infinity(), 0};
      const bool from_start = target <= 0;
      if (!advance()) {
        state_.valid = false;
        if (from_start) return false;
      } else {
        state_.prev_t = -std::numeric_limits<long double>::infinity();
        state_.interval = 0;
        if (from_start || !at_or_after(state_.ts, s) || time_of(state_.ts) == s) return true;
      }
      back = back * 2 + 1;
    }
    return false;
  }

  bool position_for(long double s) {
    if (holds_answer(s)) return true;
    if (!(can_continue(s) && !seek_is_shorter(s))) {
      if (!seek_before(s)) return false;
      if (holds_answer(s)) return true;
    }
    while (!at_or_after(state_.ts, s))
      if (!advance()) {
        state_.valid = false;
        return false;
      }
    return true;
  }

  VideoDecoder& dec_;
  int size_;
  int64_t tb_num_ = 1, tb_den_ = 1;
  int64_t first_ts_ = 0;
  double start_ = 0;
  int candidates_ = std::numeric_limits<int>::max();
  int expected_ = 0;
  bool start_lost_ = false;
  State state_;
  std::vector<uint8_t> rgb_;
};

}  // namespace

std::unique_ptr<FrameSource> make_time_source(VideoDecoder& decoder, const FrameSampling& sampling) {
  return std::make_unique<TimeSource>(decoder, sampling);
}

}  // namespace xclip::data
