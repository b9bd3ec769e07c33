// plan_synth_dataset: options check, the held-out-combination split, and every video's content.
//
// Split. A "pair" is (colour, shape, background, motion axis) with the axis one of left/right,
// up/down, grow/shrink; each pair holds the two combinations that differ only in direction. Whole
// pairs are held out for the test set (so a test caption's mirror image is also a test caption,
// and retrieval needs frame order), chosen in seeded random order but never the last training
// pair of a colour, shape, background or axis: every attribute value stays in training.
#include <algorithm>
#include <array>
#include <set>
#include <tuple>

#include "synth_detail.hpp"
#include "xclip/core/error.hpp"

namespace xclip::data {
namespace {

using synth_detail::Rng;

struct Pair {
  int colour, shape, background, axis;  // axis 0: left/right, 1: up/down, 2: grow/shrink
  SynthCombo combo(int direction) const { return {colour, shape, 2 * axis + direction, background}; }
};

int n_colours() { return int(synth_colour_names().size()); }
int n_shapes() { return int(synth_shape_names().size()); }
int n_backgrounds() { return int(synth_background_names().size()); }
constexpr int kAxes = 3;

std::vector<Pair> all_pairs() {
  std::vector<Pair> out;
  for (int c = 0; c < n_colours(); ++c)
    for (int s = 0; s < n_shapes(); ++s)
      for (int b = 0; b < n_backgrounds(); ++b)
        for (int a = 0; a < kAxes; ++a) out.push_back({c, s, b, a});
  return out;
}

// Pairs that may be held out, in the order they are taken: greedy over a seeded shuffle, each
// taken only while every one of its values keeps another pair in training.
std::vector<Pair> holdable_pairs(std::vector<Pair> pairs, Rng& rng) {
  rng.shuffle(pairs);
  // Training pairs left per value: [attribute][value], attributes colour, shape, background, axis.
  std::vector<std::vector<int>> left = {std::vector<int>(size_t(n_colours())), std::vector<int>(size_t(n_shapes())),
                                        std::vector<int>(size_t(n_backgrounds())), std::vector<int>(kAxes)};
  auto counters = [&left](const Pair& p) {
    return std::array<int*, 4>{&left[0][size_t(p.colour)], &left[1][size_t(p.shape)], &left[2][size_t(p.background)],
                               &left[3][size_t(p.axis)]};
  };
  for (const Pair& p : pairs)
    for (int* n : counters(p)) ++*n;
  std::vector<Pair> out;
  for (const Pair& p : pairs) {
    const auto n = counters(p);
    if (std::all_of(n.begin(), n.end(), [](const int* k) { return *k > 1; })) {
      for (int* k : n) --*k;
      out.push_back(p);
    }
  }
  return out;
}

// Puts first a few combinations that together show every colour, shape, motion and background,
// so that even a small --train covers every value.
size_t move_cover_to_front(std::vector<SynthCombo>& combos) {
  std::set<std::pair<int, int>> seen;  // (attribute, value)
  auto values = [](const SynthCombo& c) {
    return std::array<std::pair<int, int>, 4>{{{0, c.colour}, {1, c.shape}, {2, c.motion}, {3, c.background}}};
  };
  std::vector<SynthCombo> cover, rest;
  for (const SynthCombo& c : combos) {
    bool adds = false;
    for (const auto& v : values(c)) adds |= !seen.count(v);
    if (adds) {
      for (const auto& v : values(c)) seen.insert(v);
      cover.push_back(c);
    } else {
      rest.push_back(c);
    }
  }
  const size_t n = cover.size();
  combos = std::move(cover);
  combos.insert(combos.end(), rest.begin(), rest.end());
  return n;
}

void check_options(const SynthOptions& o) {
  XCLIP_CHECK(!o.out.empty(), "synth: --out DIR is required");
  XCLIP_CHECK(o.size >= 16 && o.size <= 1024 && o.size % 2 == 0, "synth: --size must be even and in 16..1024, got ",
              o.size);
  XCLIP_CHECK(o.fps >= 1 && o.fps <= 60, "synth: --fps must be in 1..60, got ", o.fps);
  XCLIP_CHECK(o.seconds >= 2 && o.seconds <= 600,
              "synth: --seconds must be in 2..600 (motion needs at least two sampled seconds), got ", o.seconds);
  XCLIP_CHECK(o.test >= 1, "synth: --test must be at least 1, got ", o.test);
  XCLIP_CHECK(o.train >= 1, "synth: --train must be at least 1, got ", o.train);
  XCLIP_CHECK(o.threads >= 0, "synth: --threads must be >= 0, got ", o.threads);
  XCLIP_CHECK(o.captions_per_video >= 1 && o.captions_per_video <= synth_detail::kMaxCaptions,
              "synth: captions per video must be in 1..", synth_detail::kMaxCaptions, ", got ", o.captions_per_video);
}

SynthVideo make_video(const SynthOptions& o, size_t index, const SynthCombo& combo, bool test) {
  SynthVideo v;
  v.video_id = "video" + std::to_string(index);
  v.test = test;
  v.combo = combo;
  Rng rng = synth_detail::stream(o.seed, synth_detail::kVideoTagBase + index);
  synth_detail::place_shape(v, rng);
  v.captions = synth_detail::captions_for(combo, o.captions_per_video, rng);
  return v;
}

}  // namespace

std::vector<SynthVideo> plan_synth_dataset(const SynthOptions& o) {
  check_options(o);
  Rng rng = synth_detail::stream(o.seed, synth_detail::kSplitTag);
  const std::vector<Pair> holdable = holdable_pairs(all_pairs(), rng);
  const size_t pairs_needed = size_t(o.test + 1) / 2;
  XCLIP_CHECK(pairs_needed <= holdable.size(), "synth: --test ", o.test, " is too large: at most ",
              2 * holdable.size(), " held-out combinations leave every attribute value in training");

  std::vector<SynthCombo> test_combos, train_combos;
  std::set<std::tuple<int, int, int, int>> held;
  for (size_t i = 0; i < pairs_needed; ++i) {
    const Pair& p = holdable[i];
    held.insert({p.colour, p.shape, p.background, p.axis});
    test_combos.push_back(p.combo(0));
    if (int(test_combos.size()) < o.test) test_combos.push_back(p.combo(1));
  }
  for (const Pair& p : all_pairs())
    if (!held.count({p.colour, p.shape, p.background, p.axis})) train_combos.push_back(p.combo(0)), train_combos.push_back(p.combo(1));
  rng.shuffle(test_combos);
  rng.shuffle(train_combos);
  const size_t cover = move_cover_to_front(train_combos);
  XCLIP_CHECK(size_t(o.train) >= cover, "synth: --train ", o.train, " is too small: ", cover,
              " training videos are needed to show every colour, shape, motion and background");

  // Training videos cycle through the training combinations (each about equally often); one test
  // video per held-out combination, so the test captions are pairwise distinct.
  std::vector<SynthVideo> videos;
  videos.reserve(size_t(o.train + o.test));
  for (size_t i = 0; i < size_t(o.train); ++i) videos.push_back(make_video(o, i, train_combos[i % train_combos.size()], false));
  for (size_t j = 0; j < test_combos.size(); ++j) videos.push_back(make_video(o, size_t(o.train) + j, test_combos[j], true));
  return videos;
}

}  // namespace xclip::data
