// Benchmark (not a test): reading training batches from the frame cache.
//
// Builds a cache of N clips x 12 frames x 224 x 224 x 3 with the real writer (extract_frame_cache
// over folders of PNG frames, so no video decoding is timed here), then times, with a warm page
// cache, the reading of batches of 300 random clips:
//   views    300 zero-copy ClipViews (pointers into the mapping)
//   gather   copy into one contiguous uint8 [300, 12, 224, 224, 3] buffer (542 MB), 1 and 2 threads
//   loader   Loader from the cache, raw uint8 batches (what a GPU trainer uploads), and normalised
//            f32 [300, 12, 3, 224, 224] batches (2.2 GB each: the CPU path)
// Goal (issue 4): a batch of 300 x 12 frames from the cache in under 50 ms.
//
//   bench_frame_cache [--clips 600] [--batch 300] [--frames 12] [--size 224] [--reps 10]
//                     [--dir /tmp/xclip_bench_frame_cache] [--keep]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../bench_args.hpp"
#include "../bench_common.hpp"
#include "xclip/data/frame_cache.hpp"
#include "xclip/data/image.hpp"
#include "xclip/data/loader.hpp"

namespace fs = std::filesystem;
using namespace xclip;
using namespace xclip::data;
using Clock = std::chrono::steady_clock;

namespace {

struct Config {
  int clips = 600, batch = 300, frames = 12, size = 224, reps = 10;
  fs::path dir = fs::temp_directory_path() / "xclip_bench_frame_cache";
  bool keep = false;
};

Config parse(int argc, char** argv) {
  Config c;
  bench::Args([](const std::string& why) {
    std::fprintf(stderr, "%s\n", why.c_str());
    std::exit(2);
  })
      .value("--clips", c.clips).value("--batch", c.batch).value("--frames", c.frames).value("--size", c.size)
      .value("--reps", c.reps).value("--dir", c.dir).flag("--keep", c.keep)
      .parse(argc, argv);
  return c;
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

struct Stats {
  double min = 0, median = 0, max = 0;
};
Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v.front(), v[v.size() / 2], v.back()};
}
void print_row(const char* what, const Stats& s, double bytes) {
  std::printf("%-44s min %8.1f ms  median %8.1f ms  max %8.1f ms  (%.2f GB/s at the median)\n", what, s.min,
              s.median, s.max, bytes / (s.median * 1e-3) / 1e9);
}

// One folder of `frames` noise PNGs; every clip of the synthetic dataset points at it.
Dataset synthetic_dataset(const Config& c) {
  fs::path frames_dir = c.dir / "frames";
  fs::create_directories(frames_dir);
  std::mt19937 rng(1);
  std::vector<uint8_t> rgb(size_t(c.size) * c.size * 3);
  for (int f = 0; f < c.frames; ++f) {
    for (auto& x : rgb) x = uint8_t(rng());
    char name[32];
    std::snprintf(name, sizeof name, "%03d.png", f);
    write_png((frames_dir / name).string(), rgb.data(), c.size, c.size);
  }
  Dataset d;
  d.split = "bench";
  for (int i = 0; i < c.clips; ++i) {
    d.clips.push_back({"clip" + std::to_string(i), frames_dir, std::nullopt, std::nullopt});
    d.samples.push_back({i, {"a caption"}});
  }
  return d;
}

std::vector<int64_t> random_batch(std::mt19937& rng, int clips, int batch) {
  std::vector<int64_t> all(static_cast<size_t>(clips));
  for (int i = 0; i < clips; ++i) all[size_t(i)] = i;
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(size_t(std::min(batch, clips)));
  return all;
}

void bench_loader(const Dataset& d, const std::shared_ptr<const FrameCache>& cache, const Config& c, bool raw,
                  int threads, int reps) {
  LoaderOptions o;
  o.batch_size = c.batch;
  o.shuffle = true;
  o.drop_last = true;
  o.threads = threads;
  o.prefetch_batches = 1;
  o.max_words = 32;
  o.raw_frames = raw;
  o.sampling.max_frames = c.frames;
  o.sampling.size = c.size;
  o.cache = cache;
  Loader loader(d, o, [](const std::string&, int L) {
    return EncodedText{std::vector<int64_t>(size_t(L), 1), std::vector<int64_t>(size_t(L), 1)};
  });
  // Each batch is produced and consumed alone (prefetch 1, timed from start_epoch to next()), so
  // the time is the loader's own cost for one batch, not hidden behind prefetching.
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    auto t = Clock::now();
    loader.start_epoch(r);
    auto b = loader.next();
    times.push_back(ms_since(t));
    if (!b) break;
  }
  const double bytes = double(c.batch) * c.frames * c.size * c.size * 3 * (raw ? 1 : 4);
  char what[96];
  std::snprintf(what, sizeof what, "loader %s, %d thread%s", raw ? "uint8 raw" : "f32 normalised", threads,
                threads == 1 ? "" : "s");
  print_row(what, stats(times), bytes);
}

}  // namespace

int main(int argc, char** argv) {
  Config c = parse(argc, argv);
  std::printf("bench_frame_cache: %s, %u hardware threads\n", bench::cpu_name().c_str(), std::thread::hardware_concurrency());
  std::printf("cache: %d clips x %d frames x %dx%dx3 uint8; batch %d clips; %d repetitions\n", c.clips, c.frames,
              c.size, c.size, c.batch, c.reps);
  fs::remove_all(c.dir);
  Dataset d = synthetic_dataset(c);

  ExtractOptions x;
  x.out = c.dir / "cache";
  x.sampling.max_frames = c.frames;
  x.sampling.size = c.size;
  x.threads = int(std::max(1u, std::thread::hardware_concurrency()));
  auto t0 = Clock::now();
  ExtractReport report = extract_frame_cache(d, x);
  std::printf("built with extract_frame_cache in %.1f s: %s\n", ms_since(t0) / 1000, report.summary().c_str());

  auto cache = FrameCache::open(x.out);
  const size_t batch_bytes = size_t(c.batch) * cache->record_bytes();
  std::vector<uint8_t> rgb(batch_bytes), mask(size_t(c.batch) * size_t(c.frames));
  std::memset(rgb.data(), 0, rgb.size());  // touch the destination once, as a reused buffer would be

  std::mt19937 rng(7);
  // Warm the page cache: read every record once.
  std::vector<int64_t> every(size_t(c.clips));
  for (int i = 0; i < c.clips; ++i) every[size_t(i)] = i;
  for (size_t start = 0; start < every.size(); start += size_t(c.batch)) {
    std::vector<int64_t> part(every.begin() + long(start), every.begin() + long(std::min(every.size(), start + size_t(c.batch))));
    cache->gather(part, rgb.data(), mask.data(), 2);
  }

  std::vector<double> views, gather1, gather2;
  uint64_t checksum = 0;
  for (int r = 0; r < c.reps; ++r) {
    auto pick = random_batch(rng, c.clips, c.batch);
    auto t = Clock::now();
    for (int64_t k : pick) checksum += cache->clip(k).rgb[0];
    views.push_back(ms_since(t));
    t = Clock::now();
    cache->gather(pick, rgb.data(), mask.data(), 1);
    gather1.push_back(ms_since(t));
    t = Clock::now();
    cache->gather(pick, rgb.data(), mask.data(), 2);
    gather2.push_back(ms_since(t));
    checksum += rgb[size_t(r) * 4099 % rgb.size()];
  }
  std::printf("\nbatch of %d clips x %d frames = %.0f MB uint8\n", c.batch, c.frames, double(batch_bytes) / 1e6);
  print_row("views (zero-copy, 300 ClipViews)", stats(views), double(batch_bytes));
  print_row("gather into contiguous uint8, 1 thread", stats(gather1), double(batch_bytes));
  print_row("gather into contiguous uint8, 2 threads", stats(gather2), double(batch_bytes));
  bench_loader(d, cache, c, true, 2, c.reps);
  bench_loader(d, cache, c, false, 2, std::max(2, c.reps / 3));
  std::printf("(checksum %llu)\n", (unsigned long long)checksum);
  if (!c.keep) fs::remove_all(c.dir);
  return 0;
}
