// Reading every video of a dataset once with a run's frame rule, to find the videos a run could
// not use before the run starts (xclip-cli check): missing files, empty ones, files that cannot be
// read at all, and partly corrupt ones, whose frames stop before the container's count because a
// sampled read fails part-way (the original stops at the first failed read, so such a video
// silently has fewer frames).
//
//   CheckOptions o;  o.sampling = run_sampling;  o.threads = 8;
//   std::vector<VideoCheck> r = check_clips(dataset.clips, o);
//   for (const VideoCheck& c : r) if (!c.ok()) std::cout << c.problem.video_id << ": " << c.problem.reason;
#pragma once
#include <functional>
#include <optional>
#include <vector>

#include "xclip/data/dataset.hpp"
#include "xclip/data/frame_cache.hpp"
#include "xclip/data/video.hpp"

namespace xclip::data {

struct VideoCheck {
  std::optional<VideoProblem> problem;  // empty when the video is fine
  int frames = 0;    // frames a run keeps (after slice_framepos)
  int sampled = 0;   // frames the rule read before its first failed read
  int promised = 0;  // frames the container's facts promise to the rule

  bool ok() const { return !problem.has_value(); }
};

// Decodes one clip with `sampling` (its span applied, as the loader does) and classifies it.
VideoCheck check_clip(const Clip& clip, const FrameSampling& sampling);

struct CheckOptions {
  FrameSampling sampling;
  int threads = 1;                   // clips decoded at once
  double progress_interval_s = 0.5;
  // Progress with rate and ETA ("failed" counts the clips with a problem); one call at a time.
  std::function<void(const ExtractProgress&)> on_progress;
  // Each clip with a problem, as it is found (one call at a time).
  std::function<void(const VideoProblem&)> on_problem;
};

// check_clip of every clip, with `threads` threads; results in the order of `clips`.
std::vector<VideoCheck> check_clips(const std::vector<Clip>& clips, const CheckOptions& options);

}  // namespace xclip::data
