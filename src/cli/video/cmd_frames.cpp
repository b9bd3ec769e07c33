// xclip-cli frames: decode + sample + preprocess one video (or image, or folder of frames) and
// write the normalised frames as .npy f32 [F, 3, size, size] (and optionally the uint8 crops as
// PNG files) so a person can look at exactly what the model would see.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "../args.hpp"
#include "../command.hpp"
#include "xclip/core/error.hpp"
#include "xclip/data/image.hpp"
#include "xclip/data/video.hpp"
#include "xclip/io/npy.hpp"

namespace xclip::cli {
namespace {

constexpr const char* kUsage =
    "usage: xclip-cli frames VIDEO|IMAGE|FOLDER --out OUT.npy [options]\n"
    "  --max_frames N         frames kept (default 12)\n"
    "  --slice_framepos K     0 first, 1 last, 2 uniform (default 2)\n"
    "  --frame_order K        0 keep, 1 reverse, 2 shuffle (default 0; --seed for 2)\n"
    "  --feature_framerate N  frames per second sampled (default 1)\n"
    "  --size S               crop side (default 224)\n"
    "  --rule opencv|time     original OpenCV frame-index rule (default) or time-based\n"
    "  --start SEC --end SEC  clip boundaries in seconds\n"
    "  --threads N            FFmpeg decoder threads (default 0 = FFmpeg's choice)\n"
    "  --pad                  write max_frames rows (zero padded, like the model input)\n"
    "  --png DIR              also write the uint8 crops as DIR/000.png, 001.png, ...\n";

data::FrameSampling sampling_from(const Args& args) {
  data::FrameSampling s;
  s.max_frames = int(args.get_int("max_frames", s.max_frames));
  s.slice_framepos = int(args.get_int("slice_framepos", s.slice_framepos));
  s.frame_order = int(args.get_int("frame_order", s.frame_order));
  s.shuffle_seed = uint64_t(args.get_int("seed", 0));
  s.feature_framerate = int(args.get_int("feature_framerate", s.feature_framerate));
  s.size = int(args.get_int("size", s.size));
  s.start_sec = args.get_double("start", -1);
  s.end_sec = args.get_double("end", -1);
  s.decode_threads = int(args.get_int("threads", 0));
  const std::string rule = args.get("rule", "opencv");
  if (rule == "opencv") s.rule = data::FrameSampling::opencv_index;
  else if (rule == "time") s.rule = data::FrameSampling::time_based;
  else throw Error(format("--rule must be 'opencv' or 'time', got '", rule, "'"));
  return s;
}

void write_pngs(const std::string& dir, const data::VideoFrames& v) {
  std::filesystem::create_directories(dir);
  for (int i = 0; i < v.frames; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%03d.png", i);
    data::write_png((std::filesystem::path(dir) / name).string(), v.frame(i), v.size, v.size);
  }
}

int run_frames(const std::vector<std::string>& argv) {
  const Args args(argv,
                  {"out", "max_frames", "slice_framepos", "frame_order", "seed", "feature_framerate", "size", "rule",
                   "start", "end", "threads", "png"},
                  {"pad", "help"});
  if (args.flag("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (args.positional().size() != 1 || !args.get("out")) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string input = args.positional()[0];
  const data::FrameSampling s = sampling_from(args);
  const data::VideoFrames v = data::load_frames(input, s);
  const int rows = args.flag("pad") ? s.max_frames : v.frames;
  Tensor out = Tensor::zeros(Shape{rows, 3, v.size, v.size});  // rows past v.frames stay zero (--pad)
  data::normalize_frames(v.rgb.data(), v.frames, v.size, out.data<float>());
  io::save_npy(*args.get("out"), out);
  if (auto dir = args.get("png")) write_pngs(*dir, v);
  std::printf("%s: %d frames kept of %d sampled (max_frames %d), %dx%d\n", input.c_str(), v.frames, v.sampled,
              s.max_frames, v.size, v.size);
  for (int i = 0; i < v.frames; ++i) std::printf("  frame %d: t = %.3f s\n", i, v.seconds[size_t(i)]);
  std::printf("wrote %s [%d, 3, %d, %d]\n", args.get("out")->c_str(), rows, v.size, v.size);
  return 0;
}

const CommandRegistrar registrar{Command{"frames", "decode, sample and preprocess a video's frames to .npy/PNG",
                                         run_frames}};

}  // namespace
}  // namespace xclip::cli
