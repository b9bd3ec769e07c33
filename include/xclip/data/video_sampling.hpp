// Frame sampling rules over a VideoDecoder (internal to the data library; used by video.hpp's
// load_video_frames and by tests). A FrameSource numbers the frames a rule would produce
// (0, 1, 2, ... = one per sampled second) and reads any of them; read_selected() then reads only
// the ones slice_framepos keeps, so a long video costs a few seeks, not a full decode.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "xclip/data/video.hpp"
#include "xclip/data/video_decoder.hpp"

namespace xclip::data {

struct SampledFrame {
  std::vector<uint8_t> crop;  // [size, size, 3]
  double second = 0;          // presentation time of the frame, seconds from the first frame
};

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // Reads the rule could attempt at most (the original loops over every second up to the end).
  virtual int candidates() const = 0;
  // Reads the container's facts predict succeed (verified by read_selected).
  virtual int expected() const = 0;
  // The k-th sampled frame; false when that read fails (the original stops at the first failure).
  virtual bool read(int k, SampledFrame& out) = 0;
  // Human-readable description of read k (for reports): "frame 30" or "second 1".
  virtual std::string describe(int k) const = 0;
};

// The original X-CLIP/CLIP4Clip rule (RawVideoExtractorCV2 with OpenCV 4.6's FFmpeg backend):
// fps = int(CAP_PROP_FPS), frame indices int(sec * fps) + ind for sec in start..end (inclusive),
// each read through an emulation of OpenCV's CAP_PROP_POS_FRAMES seek (seek 16 frames early to
// the preceding key frame, number frames from that key frame's timestamp, decode forward). The
// decoder is re-used instead of re-seeking whenever OpenCV's seek would land on the key frame the
// decoder is already decoding from, which gives the same frames without the repeated decoding.
std::unique_ptr<FrameSource> make_opencv_index_source(VideoDecoder& decoder, const FrameSampling& sampling);

// Time rule: for each whole second s (start..end), the first frame (decoder output order) whose
// presentation time relative to the first frame is >= s (exact rational comparison).
std::unique_ptr<FrameSource> make_time_source(VideoDecoder& decoder, const FrameSampling& sampling);

// Converts the decoder's held frame to the [size, size, 3] CLIP crop (RGB, display rotation
// applied like OpenCV's auto-orientation, PIL bicubic resize, centre crop).
void crop_held_frame(VideoDecoder& decoder, int size, std::vector<uint8_t>& rgb_scratch, std::vector<uint8_t>& out);

// Finds n = the number of successful reads (reads fail from some index on) while reading only the
// frames that slice_framepos keeps out of n; returns them in sampling order. `sampled` gets n.
std::vector<SampledFrame> read_selected(FrameSource& source, const FrameSampling& sampling, int* sampled);

}  // namespace xclip::data
