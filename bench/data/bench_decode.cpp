// Benchmark (not a test): video decoding + frame sampling + CLIP preprocessing, ours against the
// original pipeline, in frames per second.
//
// Ours:     load_video_frames (FFmpeg decode, the original OpenCV frame rule, PIL-exact bicubic
//           resize + centre crop) then frames_to_tensor (normalised f32 [max_frames, 3, 224, 224]),
//           with 1 decoder thread pinned to one CPU, and with FFmpeg's default thread count unpinned.
// Original: tools/reference/bench_decode_opencv.py (OpenCV VideoCapture + CAP_PROP_POS_FRAMES
//           seeks, PIL Resize / CenterCrop, numpy ToTensor / Normalize), pinned to the same CPU.
// Files:    every "expected": "frames" entry of <media>/manifest.json (the bad_* files are left out).
// Frames/s counts the real frames delivered in the tensor (at most max_frames per video; the
// original decodes and preprocesses every sampled second first, ours only the kept ones).
// Noise: rounds interleave ours and the original; every figure is a median over all repetitions.
// Goal (issue 4): at least 3x the original per core.
//
//   bench_decode [--media ../shared/media] [--rounds 3] [--reps 3] [--max-frames 12] [--size 224]
//                [--cpu N] [--json OUT] [--no-opencv] [--script PATH] [--no-breakdown]
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "xclip/data/image.hpp"
#include "xclip/data/video.hpp"
#include "xclip/data/video_decoder.hpp"
#include "xclip/data/video_sampling.hpp"
#include "xclip/io/json_file.hpp"
#include "../bench_args.hpp"
#include "../bench_common.hpp"

namespace fs = std::filesystem;
using namespace xclip;
using namespace xclip::data;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

struct Options {
  fs::path media = "../shared/media";
  int rounds = 3, reps = 3, max_frames = 12, size = 224, cpu = -1;
  std::string json_path, script;
  bool opencv = true, breakdown = true;
};

const char* kUsage =
    "usage: bench_decode [--media DIR] [--rounds R] [--reps K] [--max-frames N] [--size S] [--cpu N] "
    "[--json OUT] [--no-opencv] [--script PATH] [--no-breakdown]\n";
[[noreturn]] void usage(const std::string& why) { bench::exit_with_usage("bench_decode", kUsage, why); }

Options parse(int argc, char** argv) {
  Options o;
  bench::Args(usage)
      .value("--media", o.media).value("--rounds", o.rounds).value("--reps", o.reps)
      .value("--max-frames", o.max_frames).value("--size", o.size).value("--cpu", o.cpu)
      .value("--json", o.json_path).flag("--no-opencv", o.opencv, false).value("--script", o.script)
      .flag("--no-breakdown", o.breakdown, false)
      .parse(argc, argv);
  if (o.rounds < 1 || o.reps < 1) usage("--rounds and --reps must be positive");
  return o;
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// The files the manifest says decode to frames (sorted by name: a stable table).
std::vector<std::string> good_files(const fs::path& media) {
  if (!fs::is_regular_file(media / "manifest.json")) usage("no manifest.json in " + media.string() + " (use --media)");
  const json m = io::read_json_file(media / "manifest.json", "media manifest");
  std::vector<std::string> out;
  for (const auto& [name, entry] : m.at("files").items())
    if (entry.value("expected", "") == "frames") out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

// Pins this process to one CPU for the 1-thread figures (the same CPU the original runs on) and
// restores the previous set afterwards.
class CpuPin {
 public:
  explicit CpuPin(int cpu) {
    sched_getaffinity(0, sizeof saved_, &saved_);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    sched_setaffinity(0, sizeof one, &one);
  }
  ~CpuPin() { sched_setaffinity(0, sizeof saved_, &saved_); }
  CpuPin(const CpuPin&) = delete;
  CpuPin& operator=(const CpuPin&) = delete;

 private:
  cpu_set_t saved_{};
};

int last_allowed_cpu() {
  cpu_set_t set;
  sched_getaffinity(0, sizeof set, &set);
  int last = 0;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) last = c;
  return last;
}

struct FileResult {
  int frames = 0, sampled = 0;
  double checksum = 0, opencv_checksum = NAN;
  std::vector<double> ours1, ours_default, opencv;  // seconds per repetition
};

// What a dataset loader does for one video: decode + sample + crop, then the normalised tensor.
void ours_once(const fs::path& path, const Options& o, int threads, FileResult& r, bool record_checksum) {
  FrameSampling s;
  s.max_frames = o.max_frames;
  s.size = o.size;
  s.decode_threads = threads;
  VideoFrames v = load_video_frames(path.string(), s);
  Tensor t = frames_to_tensor(v, o.max_frames);
  r.frames = v.frames;
  r.sampled = v.sampled;
  if (record_checksum) {
    const float* p = t.data<float>();
    double sum = 0;
    for (int64_t i = 0, n = t.numel(); i < n; ++i) sum += p[i];
    r.checksum = sum;
  }
}

void time_ours(const fs::path& path, const Options& o, int threads, FileResult& r, std::vector<double>& into) {
  for (int k = 0; k < o.reps; ++k) {
    const auto t = Clock::now();
    ours_once(path, o, threads, r, false);
    into.push_back(seconds_since(t));
  }
}

std::optional<fs::path> find_script(const Options& o) {
  if (!o.script.empty()) return fs::path(o.script);
  const fs::path rel = "tools/reference/bench_decode_opencv.py";
  if (fs::exists(rel)) return rel;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)  // the benchmark usually sits in <checkout>/<build folder>/
    for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path())
      if (fs::exists(dir / rel)) return dir / rel;
  return std::nullopt;
}

// One run of the original pipeline over every file (o.reps timed repetitions each, after a warm-up).
std::optional<json> run_opencv(const std::vector<std::string>& files, const Options& o, int cpu, std::string& why) {
  const auto script = find_script(o);
  if (!script) return why = "tools/reference/bench_decode_opencv.py not found (use --script)", std::nullopt;
  std::string cmd = "taskset -c " + std::to_string(cpu) + " /usr/bin/python3 " + bench::shell_quote(script->string()) +
                    " --reps " + std::to_string(o.reps) + " --max-frames " + std::to_string(o.max_frames) +
                    " --size " + std::to_string(o.size);
  for (const auto& f : files) cmd += " " + bench::shell_quote((o.media / f).string());
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return why = "cannot start /usr/bin/python3", std::nullopt;
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  const int status = pclose(pipe);
  json j = json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (status != 0 || !j.is_object() || !j.contains("files"))
    return why = "the OpenCV script failed (exit status " + std::to_string(status) + ")", std::nullopt;
  return j;
}

// ---- where our time goes (1 thread, pinned) ----------------------------------------------------
struct Breakdown {
  int64_t decoded = 0;  // frames FFmpeg decoded for one load (seeks and reuse included)
  double decode_us = 0, rgb_us = 0, resize_us = 0, normalise_us = 0;  // per frame
  double load_ms = 0;   // the whole load, for comparison with decoded * decode_us + ...
};

// Sequential decode of the whole file (cost of one decoded frame), then the per-frame cost of
// the RGB conversion, the resize + crop and the normalisation on the frames it held, and the
// number of frames the sampling rule decodes (the same calls load_video_frames makes).
Breakdown breakdown(const fs::path& path, const Options& o) {
  Breakdown b;
  FrameSampling s;
  s.max_frames = o.max_frames;
  s.size = o.size;
  {
    VideoDecoder dec(path.string(), 1);
    std::vector<uint8_t> rgb, crop(size_t(o.size) * size_t(o.size) * 3);
    std::vector<float> chw(crop.size());
    double decode = 0, to_rgb = 0, resize = 0, normalise = 0;
    int64_t n = 0;
    for (;;) {
      auto t = Clock::now();
      if (!dec.next_frame()) break;
      decode += seconds_since(t);
      t = Clock::now();
      const size_t stride = dec.frame_to_rgb(rgb);
      to_rgb += seconds_since(t);
      t = Clock::now();
      clip_resize_crop(rgb.data(), int(stride / 3), int(rgb.size() / stride), stride, o.size, crop.data());
      resize += seconds_since(t);
      t = Clock::now();
      normalize_frames(crop.data(), 1, o.size, chw.data());
      normalise += seconds_since(t);
      ++n;
    }
    const double per = n > 0 ? 1e6 / double(n) : 0;
    b.decode_us = decode * per, b.rgb_us = to_rgb * per, b.resize_us = resize * per, b.normalise_us = normalise * per;
  }
  const auto t = Clock::now();
  VideoDecoder dec(path.string(), 1);
  auto source = make_opencv_index_source(dec, s);
  int sampled = 0;
  read_selected(*source, s, &sampled);
  b.load_ms = seconds_since(t) * 1e3;
  b.decoded = dec.frames_decoded();
  return b;
}

// ---- report --------------------------------------------------------------------------------------
struct Totals {
  int frames = 0;
  double ours1 = 0, ours_default = 0, opencv = 0;  // sums of per-file medians (seconds)
};

void print_table(const std::vector<std::string>& files, const std::map<std::string, FileResult>& res, bool opencv,
                 Totals& tot) {
  std::printf("\n%-34s %6s %7s | %9s %8s | %9s %8s | %7s | %9s\n", "file", "frames", "sampled", "ours 1t", "fps",
              "original", "fps", "ratio", "ours dflt");
  for (const auto& f : files) {
    const FileResult& r = res.at(f);
    const double a = bench::median(r.ours1), d = bench::median(r.ours_default), c = opencv ? bench::median(r.opencv) : NAN;
    std::printf("%-34s %6d %7d | %7.2fms %8.1f | %7.2fms %8.1f | %6.2fx | %9.1f\n", f.c_str(), r.frames, r.sampled,
                a * 1e3, r.frames / a, c * 1e3, r.frames / c, c / a, r.frames / d);
    tot.frames += r.frames;
    tot.ours1 += a, tot.ours_default += d, tot.opencv += c;
  }
  std::printf("%-34s %6d %7s | %7.1fms %8.1f | %7.1fms %8.1f | %6.2fx | %9.1f\n", "TOTAL", tot.frames, "",
              tot.ours1 * 1e3, tot.frames / tot.ours1, tot.opencv * 1e3, tot.frames / tot.opencv,
              tot.opencv / tot.ours1, tot.frames / tot.ours_default);
}

void check_checksums(const std::vector<std::string>& files, const std::map<std::string, FileResult>& res) {
  for (const auto& f : files) {
    const FileResult& r = res.at(f);
    const double diff = std::fabs(r.checksum - r.opencv_checksum) / std::max(1.0, std::fabs(r.opencv_checksum));
    if (!(diff < 1e-5))
      std::printf("note: %s: tensor sums differ (ours %.6g, original %.6g): not the same frames\n", f.c_str(),
                  r.checksum, r.opencv_checksum);
  }
}

json to_json(const std::vector<std::string>& files, const std::map<std::string, FileResult>& res, const Totals& tot,
             const Options& o, int cpu, const json& opencv_info, const std::map<std::string, Breakdown>& bd) {
  json j;
  j["bench"] = "bench_decode";
  j["cpu"] = bench::cpu_name();
  j["pinned_cpu"] = cpu;
  j["rounds"] = o.rounds, j["reps"] = o.reps, j["max_frames"] = o.max_frames, j["size"] = o.size;
  j["load_average_end"] = load_average();
  j["original"] = opencv_info;
  for (const auto& f : files) {
    const FileResult& r = res.at(f);
    json e = {{"frames", r.frames}, {"sampled", r.sampled}, {"ours_1thread_s", r.ours1},
              {"ours_default_threads_s", r.ours_default}, {"original_s", r.opencv},
              {"ours_1thread_fps", r.frames / bench::median(r.ours1)},
              {"ours_default_threads_fps", r.frames / bench::median(r.ours_default)}};
    if (o.opencv) e["original_fps"] = r.frames / bench::median(r.opencv);
    if (bd.count(f)) {
      const Breakdown& b = bd.at(f);
      e["breakdown"] = {{"frames_decoded_per_load", b.decoded}, {"decode_us_per_frame", b.decode_us},
                        {"rgb_us_per_frame", b.rgb_us}, {"resize_crop_us_per_frame", b.resize_us},
                        {"normalise_us_per_frame", b.normalise_us}, {"load_ms", b.load_ms}};
    }
    j["files"][f] = e;
  }
  j["total"] = {{"frames", tot.frames}, {"ours_1thread_fps", tot.frames / tot.ours1},
                {"ours_default_threads_fps", tot.frames / tot.ours_default}};
  if (o.opencv) {
    j["total"]["original_fps"] = tot.frames / tot.opencv;
    j["total"]["ratio_ours_1thread_over_original"] = tot.opencv / tot.ours1;
  }
  return j;
}

void print_breakdown(const std::vector<std::string>& files, const std::map<std::string, Breakdown>& bd) {
  std::printf("\nwhere our time goes (1 thread): per decoded frame, and frames decoded for one load\n");
  std::printf("%-34s %8s %8s %8s %8s | %8s %9s\n", "file", "decode", "to RGB", "resize", "normal.", "decoded",
              "load ms");
  for (const auto& f : files) {
    const Breakdown& b = bd.at(f);
    std::printf("%-34s %6.0fus %6.0fus %6.0fus %6.0fus | %8lld %9.2f\n", f.c_str(), b.decode_us, b.rgb_us, b.resize_us,
                b.normalise_us, (long long)b.decoded, b.load_ms);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const std::vector<std::string> files = good_files(o.media);
  const int cpu = o.cpu >= 0 ? o.cpu : last_allowed_cpu();
  std::printf("bench_decode: %s; %zu files from %s; max_frames %d, size %d; %d rounds x %d reps; CPU %d for the "
              "1-thread runs; load average %s\n",
              bench::cpu_name().c_str(), files.size(), o.media.string().c_str(), o.max_frames, o.size, o.rounds, o.reps,
              cpu, load_average().c_str());
  std::map<std::string, FileResult> res;
  for (const auto& f : files) ours_once(o.media / f, o, 1, res[f], true);  // warm-up + checksum
  json opencv_info;
  bool opencv = o.opencv;
  for (int round = 0; round < o.rounds; ++round) {
    {
      CpuPin pin(cpu);
      for (const auto& f : files) time_ours(o.media / f, o, 1, res[f], res[f].ours1);
    }
    if (opencv) {
      std::string why;
      auto j = run_opencv(files, o, cpu, why);
      if (!j) {
        std::printf("original pipeline not measured: %s\n", why.c_str());
        opencv = false;
      } else {
        for (const auto& f : files) {
          const json& e = (*j)["files"].at(f);
          for (double s : e.at("seconds")) res[f].opencv.push_back(s);
          res[f].opencv_checksum = e.at("checksum").get<double>();
        }
        opencv_info = *j;
        opencv_info.erase("files");
      }
    }
    for (const auto& f : files) time_ours(o.media / f, o, 0, res[f], res[f].ours_default);
    std::printf("round %d done (load average %s)\n", round + 1, load_average().c_str());
  }
  Options shown = o;
  shown.opencv = opencv;
  Totals tot;
  print_table(files, res, opencv, tot);
  if (opencv) check_checksums(files, res);
  std::map<std::string, Breakdown> bd;
  if (o.breakdown) {
    CpuPin pin(cpu);
    for (const auto& f : files) bd[f] = breakdown(o.media / f, o);
    print_breakdown(files, bd);
  }
  std::printf("load average at the end: %s\n", load_average().c_str());
  if (!o.json_path.empty())
    bench::write_json_atomically(o.json_path, to_json(files, res, tot, shown, cpu, opencv_info, bd));
  return 0;
}
