// Video frames for X-CLIP: decode (FFmpeg), sample one frame per second with the original
// OpenCV rule (or a time-based rule), select max_frames of them (slice_framepos), order them
// (frame_order), resize + centre-crop exactly like PIL/torchvision, and normalise with CLIP's
// mean/std. Spec: xclip-spec.md §7, xclip-spec-detailed.md §7.1, §7.2, §7.5.
//
// Typical use (a dataset loader):
//   FrameSampling s; s.max_frames = 12;
//   VideoFrames v = load_frames(path, s);            // uint8 crops + mask; throws xclip::Error
//   Tensor video = frames_to_tensor(v, s.max_frames); // f32 [max_frames, 3, size, size], zero padded
//   Tensor mask = mask_to_tensor(v);                 // i64 [max_frames]
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "xclip/core/tensor.hpp"

namespace xclip::data {

struct FrameSampling {
  int max_frames = 12;
  // Frames taken per second (the original's feature_framerate / sample_fp): interval = fps / this.
  // 0 takes every frame.
  int feature_framerate = 1;
  // More sampled frames than max_frames: 0 keeps the first, 1 the last, 2 numpy.linspace (uniform).
  int slice_framepos = 2;
  // 0 keep, 1 reverse, 2 shuffle (deterministic from shuffle_seed; the original used np.random).
  int frame_order = 0;
  uint64_t shuffle_seed = 0;
  // Clip boundaries in seconds (DiDeMo, ActivityNet); negative = whole video. The original passes
  // integers; seconds start..min(end, total_duration) inclusive are sampled.
  double start_sec = -1, end_sec = -1;
  // opencv_index: the original rule (fps = int(container fps), frames 0, fps, 2*fps, ... with
  //   OpenCV's seek semantics). time_based: the first frame at or after each whole second.
  enum Rule { opencv_index, time_based } rule = opencv_index;
  int size = 224;  // output side (shorter side resized to this, then centre crop)
  // FFmpeg decoder threads for one video (0 = FFmpeg's choice). A loader that decodes several
  // videos at once should leave this at 1 and parallelise across videos.
  int decode_threads = 1;
};

struct VideoFrames {
  std::vector<uint8_t> rgb;   // [frames, size, size, 3] RGB after resize + crop, before normalisation
  int frames = 0;             // real frames (<= max_frames); the rest of the slots are padding
  int size = 0;
  std::vector<uint8_t> mask;  // [max_frames]: 1 for the first `frames` slots, else 0
  int sampled = 0;            // frames the rule produced before slice_framepos selection
  // Frames the rule would produce by the container's facts (frame count, frame rate): more than
  // `sampled` when a read failed part-way (damaged data; the original stops there too), or when
  // the facts are only an estimate (a variable frame rate).
  int promised = 0;
  // The decoder met damaged data (decoding errors, lost frames) or the file is cut short (its
  // index lists data past its end). With sampled < promised: a partly corrupt video.
  bool damaged = false;
  std::vector<double> seconds;  // [frames] the time (s) of each kept frame, for reports

  const uint8_t* frame(int i) const { return rgb.data() + size_t(i) * size_t(size) * size_t(size) * 3; }
};

// Decodes a video file (any container/codec FFmpeg supports). Throws xclip::Error naming the
// file and the problem for a missing, unreadable or undecodable file (never a silent zero video).
VideoFrames load_video_frames(const std::string& path, const FrameSampling& sampling);

// One still image (jpg, png, bmp, ...) as a one-frame video.
VideoFrames load_image_frames(const std::string& path, const FrameSampling& sampling);

// A folder of image files (sorted by name) treated as a video that is already sampled: every
// image is one sampled frame (second k = the k-th image); start/end seconds index the images.
VideoFrames load_folder_frames(const std::string& dir, const FrameSampling& sampling);

// Dispatches on the path: a folder, an image extension, else a video.
VideoFrames load_frames(const std::string& path, const FrameSampling& sampling);

// CLIP normalisation: uint8 [frames, size, size, 3] -> f32 [frames, 3, size, size],
// (x/255 - mean) / std per channel, in float32 like torchvision.
void normalize_frames(const uint8_t* rgb, int frames, int size, float* out_chw);

// f32 [max_frames, 3, size, size]: the normalised real frames, then zeros (the original pads with
// zeros after normalisation). max_frames must be >= v.frames.
Tensor frames_to_tensor(const VideoFrames& v, int max_frames);
// i64 [max_frames] with 1 for real frames.
Tensor mask_to_tensor(const VideoFrames& v);

// ---- the pieces, exposed for tests and the frame cache ------------------------------------
// Indices kept out of n sampled frames (spec §7.2); n <= max_frames keeps all.
std::vector<int> slice_frame_indices(int n, int max_frames, int slice_framepos);
// The final order of the kept frames (0 keep, 1 reverse, 2 seeded shuffle).
std::vector<int> order_frames(std::vector<int> kept, int frame_order, uint64_t seed);

// CLIP's mean and std (RGB).
inline constexpr float kClipMean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
inline constexpr float kClipStd[3] = {0.26862954f, 0.26130258f, 0.27577711f};

}  // namespace xclip::data
