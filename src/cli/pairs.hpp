// Pairwise ranking accuracy of a [texts × videos] similarity: for each listed (text, video, other),
// whether the text scores `video` strictly above `other` (e.g. a video against its mirror image,
// the same scene with the motion reversed, as the synthetic demo's test pairs are).
#pragma once
#include <string>

#include "xclip/core/tensor.hpp"

namespace xclip::cli {

struct PairAccuracy {
  int64_t correct = 0;  // sim[text, video] > sim[text, other]
  int64_t count = 0;    // pairs listed
  double percent() const { return count ? 100.0 * double(correct) / double(count) : 0.0; }
};

// PATH: CSV lines `text,video,other` of 0-based row / column indices into `sim` (f64, 2-d); a
// first line that is not numeric (a header) and empty lines are skipped. Errors name the line.
PairAccuracy pair_accuracy(const Tensor& sim, const std::string& path);

}  // namespace xclip::cli
