// Internals shared by the synth*.cpp files: the seeded random stream and the per-video pieces.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "xclip/data/synth.hpp"

namespace xclip::data::synth_detail {

// splitmix64: tiny, fast and the same on every platform (the std:: distributions are not), so a
// seed names one dataset everywhere.
class Rng {
 public:
  explicit Rng(uint64_t state) : state_(state) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform(double lo, double hi) { return lo + (hi - lo) * double(next() >> 11) * 0x1.0p-53; }
  int below(int n) { return int(next() % uint64_t(n)); }  // n is tiny: the modulo bias is negligible
  template <class T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[size_t(below(int(i)))]);
  }

 private:
  uint64_t state_;
};

// An independent stream for one purpose (the split) or one video, so that e.g. changing --test
// leaves every training video as it was.
inline Rng stream(uint64_t seed, uint64_t tag) {
  Rng r(seed ^ (tag * 0xD1B54A32D192ED03ull));
  r.next();
  return r;
}
inline constexpr uint64_t kSplitTag = 1;
inline constexpr uint64_t kVideoTagBase = 1000;

// Start / end position and size of the shape for the video's motion, slightly randomised.
void place_shape(SynthVideo& video, Rng& rng);

// `count` (1..5) distinct phrasings; the first is the canonical one, used for the test csv.
std::vector<std::string> captions_for(const SynthCombo& combo, int count, Rng& rng);
inline constexpr int kMaxCaptions = 5;

}  // namespace xclip::data::synth_detail
