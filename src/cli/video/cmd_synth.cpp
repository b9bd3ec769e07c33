// xclip-cli synth: writes a synthetic video-text dataset (moving coloured shapes with captions)
// in the MSR-VTT layout, with real encoded videos, for end-to-end training and retrieval checks.
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../args.hpp"
#include "../command.hpp"
#include "xclip/core/error.hpp"
#include "xclip/data/synth.hpp"

namespace xclip::cli {
namespace {

constexpr const char* kUsage =
    "usage: xclip-cli synth --out DIR [options]\n"
    "Writes coloured shapes (circle, square, triangle, diamond) that move left/right/up/down, grow\n"
    "or shrink on a black, grey or white background, with captions, in the MSR-VTT layout:\n"
    "DIR/MSRVTT_data.json, DIR/MSRVTT_train.9k.csv, DIR/MSRVTT_JSFUSION_test.csv, DIR/videos/*.mp4.\n"
    "Test videos show (colour, shape, motion, background) combinations absent from training.\n"
    "  --train N     training videos (default 800)\n"
    "  --test N      test videos, one caption each, pairwise distinct (default 100)\n"
    "  --size S      frame side in pixels, even (default 64)\n"
    "  --fps F       frames per second (default 4)\n"
    "  --seconds T   video length (default 8)\n"
    "  --seed N      random seed; same seed and options -> identical files (default 0)\n"
    "  --captions K  captions per video in MSRVTT_data.json, 1..5 (default 5)\n"
    "  --codec NAME  FFmpeg encoder, or auto = libx264 if present, else mpeg4 (default auto)\n"
    "  --threads N   videos encoded at once (default 0 = all cores)\n";

int positive_int(const Args& args, const std::string& name, int fallback) {
  const int64_t v = args.get_int(name, fallback);
  XCLIP_CHECK(v >= 0 && v <= 1000000, "--", name, " must be in 0..1000000, got ", v);
  return int(v);
}

// A progress line with rate and ETA: rewritten in place on a terminal, a line every few
// seconds otherwise (logs).
std::function<void(const data::SynthProgress&)> progress_printer() {
  const bool tty = isatty(fileno(stderr));
  auto last = std::make_shared<double>(-1e9);
  return [tty, last](const data::SynthProgress& p) {
    const bool final = p.done == p.total;
    if (!final && p.elapsed_sec - *last < (tty ? 0.25 : 5.0)) return;
    *last = p.elapsed_sec;
    const double rate = p.elapsed_sec > 0 ? p.done / p.elapsed_sec : 0;
    const double eta = rate > 0 ? (p.total - p.done) / rate : 0;
    std::fprintf(stderr, "%ssynth: %d/%d videos, %.1f videos/s, ETA %.1f s%s", tty ? "\r" : "", p.done, p.total, rate,
                 eta, tty && !final ? "   " : "\n");
    std::fflush(stderr);
  };
}

int run_synth(const std::vector<std::string>& argv) {
  const Args args(argv, {"out", "train", "test", "size", "fps", "seconds", "seed", "captions", "codec", "threads"},
                  {"help"});
  if (args.flag("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (!args.get("out") || !args.positional().empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  data::SynthOptions o;
  o.out = *args.get("out");
  o.train = positive_int(args, "train", o.train);
  o.test = positive_int(args, "test", o.test);
  o.size = positive_int(args, "size", o.size);
  o.fps = positive_int(args, "fps", o.fps);
  o.seconds = positive_int(args, "seconds", o.seconds);
  o.captions_per_video = positive_int(args, "captions", o.captions_per_video);
  o.threads = positive_int(args, "threads", o.threads);
  const int64_t seed = args.get_int("seed", 0);
  XCLIP_CHECK(seed >= 0, "--seed must be >= 0, got ", seed);
  o.seed = uint64_t(seed);
  o.codec = args.get("codec", o.codec);
  o.progress = progress_printer();
  if (o.codec == "auto" && data::resolve_video_encoder("auto") != "libx264")
    std::fprintf(stderr, "synth: this FFmpeg has no libx264 encoder; writing MPEG-4 part 2 (mpeg4) video\n");

  const data::SynthSummary s = data::write_synth_dataset(o);
  std::printf("wrote %s: %d train + %d test videos (%s, %dx%d, %d fps, %d s = %d frames each), %lld sentences, "
              "%.2f MB in %.1f s\n",
              o.out.string().c_str(), s.train, s.test, s.codec.c_str(), o.size, o.size, o.fps, o.seconds,
              s.frames_per_video, static_cast<long long>(s.sentences), double(s.bytes) / 1e6, s.seconds);
  return 0;
}

const CommandRegistrar registrar{
    Command{"synth", "write a synthetic moving-shapes video-text dataset in the MSR-VTT layout", run_synth}};

}  // namespace
}  // namespace xclip::cli
