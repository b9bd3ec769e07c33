// Benchmark (not a test): `xclip-cli index` throughput on the CPU for a ViT-B/32 X-CLIP at 12
// frames of 224 px, decoding and encoding measured apart, as the index command runs them:
//   decode  load_video_frames (FFmpeg, the original frame rule, slice_framepos 2, resize + crop),
//           one video per thread on --threads threads
//   encode  frames_to_tensor, the CLIP image tower on batches of --batch videos, the head's video
//           side (the 4-layer temporal encoder, the normalisations): search::video_sides
// Files: the videos of --media (../shared/media; the bad_* and partial_* files left out). The
// weights are random (the time does not depend on them).
//
//   bench_index [--media ../shared/media] [--threads 2] [--batch 8] [--videos 8] [--json OUT]
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "xclip/autograd.hpp"
#include "xclip/data/video.hpp"
#include "xclip/models/build.hpp"
#include "xclip/search/score.hpp"
#include "../bench_args.hpp"
#include "../bench_common.hpp"

namespace fs = std::filesystem;
using namespace xclip;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string media = "../shared/media", json_path;
  int threads = 2, batch = 8, videos = 8;
};
const char* kUsage = "usage: bench_index [--media DIR] [--threads N] [--batch B] [--videos V] [--json OUT]\n";
[[noreturn]] void usage(const std::string& why) { bench::exit_with_usage("bench_index", kUsage, why); }

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::vector<fs::path> media_files(const fs::path& dir, int limit) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string(), ext = e.path().extension().string();
    if (!e.is_regular_file() || n.starts_with("bad_") || n.starts_with("partial_")) continue;
    if (ext == ".mp4" || ext == ".mkv" || ext == ".avi" || ext == ".webm") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (int(files.size()) > limit) files.resize(size_t(limit));
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bench::Args(usage)
      .value("--media", o.media)
      .value("--threads", o.threads)
      .value("--batch", o.batch)
      .value("--videos", o.videos)
      .value("--json", o.json_path)
      .parse(argc, argv);
  const std::vector<fs::path> files = media_files(o.media, o.videos);
  if (files.empty()) usage("no videos in " + o.media);
  data::FrameSampling s;
  s.max_frames = 12, s.slice_framepos = 2, s.size = 224;

  // Decode: one video per thread.
  std::vector<data::VideoFrames> frames(files.size());
  std::atomic<size_t> next{0};
  auto t0 = Clock::now();
  auto work = [&] {
    for (size_t i; (i = next++) < files.size();) frames[i] = data::load_video_frames(files[i].string(), s);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < o.threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  const double decode_s = since(t0);

  // Encode: ViT-B/32 X-CLIP (the official head), batches as the index command makes them.
  auto model = models::from_scratch(models::ClipConfig::vit_b32(), models::HeadConfig{}, 42);
  NoGradGuard no_grad;
  const int64_t N = 12, R = 224, B = o.batch;
  t0 = Clock::now();
  for (size_t i = 0; i < frames.size(); i += size_t(B)) {
    const int64_t n = std::min<int64_t>(B, int64_t(frames.size() - i));
    Tensor video = Tensor::empty(Shape{n, N, 3, R, R});
    Tensor mask = Tensor::empty(Shape{n, N}, DType::i64);
    for (int64_t b = 0; b < n; ++b) {
      const Tensor f = data::frames_to_tensor(frames[i + size_t(b)], int(N));
      std::memcpy(video.data<float>() + b * N * 3 * R * R, f.data<float>(), f.nbytes());
      const Tensor m = data::mask_to_tensor(frames[i + size_t(b)]);
      std::memcpy(mask.data<int64_t>() + b * N, m.data<int64_t>(), m.nbytes());
    }
    search::video_sides(*model, model->encode_video(video, mask));
  }
  const double encode_s = since(t0);
  int real_frames = 0;
  for (const auto& f : frames) real_frames += f.frames;
  const double V = double(files.size());
  std::printf("index throughput, ViT-B/32 X-CLIP, 12 frames of 224 px, %zu videos of %s (%d real frames), %s\n",
              files.size(), o.media.c_str(), real_frames, bench::cpu_name().c_str());
  std::printf("  decode (%d threads)                   %7.2f videos/s  (%.2f s)\n", o.threads, V / decode_s, decode_s);
  std::printf("  encode (%d OpenMP threads, batch %d)  %7.2f videos/s  (%.2f s)\n", omp_get_max_threads(), o.batch,
              V / encode_s, encode_s);
  std::printf("  both, one after the other           %7.2f videos/s\n", V / (decode_s + encode_s));
  bench::write_result(o.json_path, {{"benchmark", "bench_index"},
                                    {"videos", files.size()},
                                    {"real_frames", real_frames},
                                    {"decode_threads", o.threads},
                                    {"omp_threads", omp_get_max_threads()},
                                    {"batch", o.batch},
                                    {"decode_seconds", decode_s},
                                    {"encode_seconds", encode_s},
                                    {"decode_videos_per_s", V / decode_s},
                                    {"encode_videos_per_s", V / encode_s},
                                    {"videos_per_s", V / (decode_s + encode_s)},
                                    {"cpu", bench::cpu_name()}});
  return 0;
}
