// The synthetic scenes: attribute tables, captions, placement of the moving shape, rendering.
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "synth_detail.hpp"
#include "xclip/core/error.hpp"

namespace xclip::data {

const std::vector<std::string>& synth_colour_names() {
  static const std::vector<std::string> v = {"red", "green", "blue", "yellow", "purple", "orange"};
  return v;
}
const std::vector<std::string>& synth_shape_names() {
  static const std::vector<std::string> v = {"circle", "square", "triangle", "diamond"};
  return v;
}
const std::vector<std::string>& synth_motion_names() {
  static const std::vector<std::string> v = {"left", "right", "up", "down", "grow", "shrink"};
  return v;
}
const std::vector<std::string>& synth_background_names() {
  static const std::vector<std::string> v = {"black", "grey", "white"};
  return v;
}

// Saturated colours that stay apart from each other and from all three backgrounds after
// yuv420p chroma subsampling.
std::array<uint8_t, 3> synth_colour_rgb(int colour) {
  static const std::array<uint8_t, 3> rgb[] = {
      {220, 30, 30}, {30, 170, 50}, {40, 80, 230}, {240, 210, 20}, {150, 50, 200}, {250, 130, 20}};
  XCLIP_CHECK(colour >= 0 && colour < int(std::size(rgb)), "synth: colour index ", colour, " out of range");
  return rgb[colour];
}
std::array<uint8_t, 3> synth_background_rgb(int background) {
  static const std::array<uint8_t, 3> rgb[] = {{0, 0, 0}, {128, 128, 128}, {255, 255, 255}};
  XCLIP_CHECK(background >= 0 && background < int(std::size(rgb)), "synth: background index ", background,
              " out of range");
  return rgb[background];
}

namespace synth_detail {
namespace {

// Verb phrases per motion (third person, so they fit every template); [0] is canonical.
const char* const kMotionPhrases[6][kMaxCaptions] = {
    {"moves to the left", "is moving left", "goes left", "slides to the left", "travels leftwards"},
    {"moves to the right", "is moving right", "goes right", "slides to the right", "travels rightwards"},
    {"moves up", "is moving up", "goes up", "slides upwards", "rises"},
    {"moves down", "is moving down", "goes down", "slides downwards", "sinks"},
    {"grows", "is growing", "gets bigger", "expands", "becomes larger"},
    {"shrinks", "is shrinking", "gets smaller", "contracts", "becomes smaller"},
};

std::string article(const std::string& word) {
  return std::string("aeiou").find(word.front()) != std::string::npos ? "an" : "a";
}

std::string phrase(int tmpl, const SynthCombo& c, int motion_phrase) {
  const std::string& colour = synth_colour_names()[size_t(c.colour)];
  const std::string& shape = synth_shape_names()[size_t(c.shape)];
  const std::string& bg = synth_background_names()[size_t(c.background)];
  const std::string motion = kMotionPhrases[c.motion][motion_phrase];
  const std::string thing = article(colour) + " " + colour + " " + shape;
  switch (tmpl) {
    case 0: return thing + " " + motion + " on " + article(bg) + " " + bg + " background";
    case 1: return thing + " " + motion + " against " + article(bg) + " " + bg + " background";
    case 2: return colour + " " + shape + " " + motion + " on " + bg;
    case 3: return "on " + article(bg) + " " + bg + " background, " + thing + " " + motion;
    default: return "there is " + thing + " that " + motion + " on " + article(bg) + " " + bg + " background";
  }
}

}  // namespace

std::vector<std::string> captions_for(const SynthCombo& combo, int count, Rng& rng) {
  // Template j with a motion phrase rotated by a per-video shift: every template meets every
  // phrasing across the dataset, and the captions of one video are all different.
  const int shift = rng.below(kMaxCaptions);
  std::vector<std::string> out = {phrase(0, combo, 0)};
  for (int j = 1; j < count; ++j) out.push_back(phrase(j, combo, (j + shift) % kMaxCaptions));
  return out;
}

void place_shape(SynthVideo& v, Rng& rng) {
  const auto motion = SynthMotion(v.combo.motion);
  if (motion == SynthMotion::grow || motion == SynthMotion::shrink) {
    v.x0 = v.x1 = rng.uniform(0.4, 0.6);
    v.y0 = v.y1 = rng.uniform(0.4, 0.6);
    v.r0 = rng.uniform(0.06, 0.09);
    v.r1 = rng.uniform(0.24, 0.30);
    if (motion == SynthMotion::shrink) std::swap(v.r0, v.r1);
    return;
  }
  // About half the frame is crossed; the shape never touches the border (the corners stay
  // background, which the tests use as the background colour).
  const double from = rng.uniform(0.72, 0.80), to = rng.uniform(0.20, 0.28), across = rng.uniform(0.3, 0.7);
  v.r0 = v.r1 = rng.uniform(0.10, 0.14);
  switch (motion) {
    case SynthMotion::left: v.x0 = from, v.x1 = to, v.y0 = v.y1 = across; break;
    case SynthMotion::right: v.x0 = to, v.x1 = from, v.y0 = v.y1 = across; break;
    case SynthMotion::up: v.y0 = from, v.y1 = to, v.x0 = v.x1 = across; break;  // image y grows downwards
    default: v.y0 = to, v.y1 = from, v.x0 = v.x1 = across; break;
  }
}

}  // namespace synth_detail

namespace {

// Signed distance in pixels from (dx, dy) (relative to the centre) to the shape's outline,
// negative inside. Exact near the edges, which is all the antialiasing needs.
double signed_distance(int shape, double dx, double dy, double r) {
  switch (shape) {
    case 0: return std::hypot(dx, dy) - r;                                      // circle
    case 1: return std::max(std::abs(dx), std::abs(dy)) - 0.9 * r;             // square
    case 2: {                                                                  // triangle, apex up
      const double R = 1.2 * r, s = std::sqrt(3.0) / 2;
      return std::max({dy, s * dx - 0.5 * dy, -s * dx - 0.5 * dy}) - 0.5 * R;  // inradius = R / 2
    }
    default: return (std::abs(dx) + std::abs(dy) - 1.2 * r) / std::sqrt(2.0);  // diamond
  }
}

// Draws one frame: background, then the shape blended by its pixel coverage.
void draw_frame(uint8_t* out, int size, const SynthCombo& c, double cx, double cy, double r) {
  const auto bg = synth_background_rgb(c.background);
  const auto fg = synth_colour_rgb(c.colour);
  for (size_t i = 0; i < size_t(size) * size_t(size); ++i) std::copy(bg.begin(), bg.end(), out + 3 * i);
  const double reach = 1.3 * r + 2;  // beyond every shape's extent
  const int x_lo = std::max(0, int(cx - reach)), x_hi = std::min(size - 1, int(cx + reach));
  const int y_lo = std::max(0, int(cy - reach)), y_hi = std::min(size - 1, int(cy + reach));
  for (int y = y_lo; y <= y_hi; ++y) {
    for (int x = x_lo; x <= x_hi; ++x) {
      const double d = signed_distance(c.shape, x + 0.5 - cx, y + 0.5 - cy, r);
      const double cover = std::clamp(0.5 - d, 0.0, 1.0);
      if (cover <= 0) continue;
      uint8_t* px = out + 3 * (size_t(y) * size_t(size) + size_t(x));
      for (int k = 0; k < 3; ++k) px[k] = uint8_t(std::lround(bg[size_t(k)] + (fg[size_t(k)] - bg[size_t(k)]) * cover));
    }
  }
}

}  // namespace

std::vector<uint8_t> render_synth_video(const SynthVideo& v, const SynthOptions& o) {
  XCLIP_CHECK(o.size > 0 && o.fps > 0 && o.seconds > 0, "synth: size, fps and seconds must be positive");
  const int frames = o.fps * o.seconds;
  const size_t frame_bytes = size_t(o.size) * size_t(o.size) * 3;
  std::vector<uint8_t> rgb(frame_bytes * size_t(frames));
  for (int i = 0; i < frames; ++i) {
    const double t = frames > 1 ? double(i) / (frames - 1) : 0.0;  // linear from first to last frame
    const double x = v.x0 + (v.x1 - v.x0) * t, y = v.y0 + (v.y1 - v.y0) * t, r = v.r0 + (v.r1 - v.r0) * t;
    draw_frame(rgb.data() + size_t(i) * frame_bytes, o.size, v.combo, x * o.size, y * o.size, r * o.size);
  }
  return rgb;
}

}  // namespace xclip::data
