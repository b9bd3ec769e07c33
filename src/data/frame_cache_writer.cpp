// Writing a frame cache: extract_frame_cache() decodes every clip of a dataset once (several
// videos at a time), resumably, and publishes the folder atomically (see frame_cache.hpp).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <thread>

#include "xclip/core/error.hpp"
#include "xclip/data/dataset_readers.hpp"
#include "xclip/data/frame_cache.hpp"
#include "xclip/data/loader.hpp"
#include "xclip/io/file_bytes.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace xclip::data {

namespace {

enum Status : uint8_t { kPending = 0, kDone = 1, kFailed = 2 };

void write_all_at(int fd, const void* data, size_t bytes, size_t offset, const fs::path& path) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::pwrite(fd, p, bytes, off_t(offset));
    if (n < 0 && errno == EINTR) continue;
    XCLIP_CHECK(n > 0, path.string(), ": write failed: ", std::strerror(errno));
    p += n;
    bytes -= size_t(n);
    offset += size_t(n);
  }
}

void sync_fd(int fd, const fs::path& path) {
  XCLIP_CHECK(::fdatasync(fd) == 0, path.string(), ": fdatasync failed: ", std::strerror(errno));
}

void sync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Atomically and synced to disk: a resumed extraction trusts the manifest an earlier run wrote.
void write_manifest(const fs::path& path, const json& manifest) {
  const std::string text = manifest.dump(1);
  io::write_file_atomically(path.string(), {{text.data(), text.size()}}, io::SyncToDisk::yes);
}

json clip_list(const Dataset& d) {
  json clips = json::array();
  for (const Clip& c : d.clips) {
    json j{{"key", clip_key(c)}, {"video_id", c.video_id}, {"path", c.path.string()}};
    if (c.start) j["start"] = *c.start;
    if (c.end) j["end"] = *c.end;
    clips.push_back(std::move(j));
  }
  return clips;
}

json initial_manifest(const Dataset& d, const FrameSampling& sampling) {
  return json{{"format", "xclip-frame-cache"},
              {"version", 1},
              {"complete", false},
              {"sampling", sampling_to_json(sampling)},
              {"layout", {{"frames.u8", "[clips, max_frames, size, size, 3] uint8 RGB, after resize + centre crop"},
                          {"masks.u8", "[clips, max_frames] uint8, 1 = real frame"},
                          {"status.u8", "[clips] 0 pending, 1 done, 2 failed"}}},
              {"dataset", {{"kind", dataset_kind_name(d.kind)}, {"split", d.split}, {"samples", d.samples.size()}}},
              {"clips", clip_list(d)}};
}

// Same sampling and the same clips in the same order: what a resume (or a reuse) requires.
bool same_content(const json& a, const json& b) {
  if (!a.contains("sampling") || !b.contains("sampling") || a["sampling"] != b["sampling"]) return false;
  if (!a.contains("clips") || !b.contains("clips") || a["clips"].size() != b["clips"].size()) return false;
  for (size_t i = 0; i < a["clips"].size(); ++i)
    if (a["clips"][i].value("key", "") != b["clips"][i].value("key", "")) return false;
  return true;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// The three arrays of an extraction in progress, opened for writing.
class CacheFiles {
 public:
  CacheFiles(const fs::path& dir, const json& manifest, bool resume) : dir_(dir) {
    const size_t n = manifest["clips"].size();
    const int F = manifest["sampling"]["max_frames"].get<int>(), S = manifest["sampling"]["size"].get<int>();
    record_bytes_ = size_t(F) * size_t(S) * size_t(S) * 3;
    max_frames_ = size_t(F);
    if (!resume) {
      fs::create_directories(dir);
      write_manifest(dir / "manifest.json", manifest);
    }
    frames_ = open_sized("frames.u8", n * record_bytes_, resume);
    masks_ = open_sized("masks.u8", n * max_frames_, resume);
    status_ = open_sized("status.u8", n, resume);
    status_values_.resize(n);
    if (n > 0) {
      ssize_t got = ::pread(status_, status_values_.data(), n, 0);
      XCLIP_CHECK(got == ssize_t(n), (dir / "status.u8").string(), ": cannot read the clip statuses");
    }
  }
  ~CacheFiles() {
    for (int fd : {frames_, masks_, status_})
      if (fd >= 0) ::close(fd);
  }

  const std::vector<uint8_t>& statuses() const { return status_values_; }

  // Frames and mask of one clip (the whole record: a resumed clip may hold bytes of a crash).
  void write_clip(size_t index, const VideoFrames& v) {
    std::vector<uint8_t> record(record_bytes_, 0);
    std::memcpy(record.data(), v.rgb.data(), std::min(record.size(), v.rgb.size()));
    std::vector<uint8_t> mask(max_frames_, 0);
    for (size_t f = 0; f < size_t(v.frames) && f < max_frames_; ++f) mask[f] = 1;
    write_all_at(frames_, record.data(), record.size(), index * record_bytes_, dir_ / "frames.u8");
    write_all_at(masks_, mask.data(), mask.size(), index * max_frames_, dir_ / "masks.u8");
  }
  void write_failed(size_t index) {
    std::vector<uint8_t> zeros(record_bytes_, 0);
    write_all_at(frames_, zeros.data(), zeros.size(), index * record_bytes_, dir_ / "frames.u8");
    write_all_at(masks_, zeros.data(), max_frames_, index * max_frames_, dir_ / "masks.u8");
  }
  // Makes the frames durable, then the statuses that describe them.
  void commit(const std::vector<std::pair<size_t, uint8_t>>& statuses) {
    if (statuses.empty()) return;
    sync_fd(frames_, dir_ / "frames.u8");
    sync_fd(masks_, dir_ / "masks.u8");
    for (const auto& [index, status] : statuses) {
      write_all_at(status_, &status, 1, index, dir_ / "status.u8");
      status_values_[index] = status;
    }
    sync_fd(status_, dir_ / "status.u8");
  }

 private:
  int open_sized(const char* name, size_t bytes, bool resume) {
    fs::path path = dir_ / name;
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (resume ? 0 : O_CREAT | O_TRUNC), 0644);
    XCLIP_CHECK(fd >= 0, path.string(), ": cannot open: ", std::strerror(errno));
    struct stat st{};
    ::fstat(fd, &st);
    if (resume && size_t(st.st_size) != bytes) {
      ::close(fd);
      throw Error(format(path.string(), ": ", st.st_size, " bytes, expected ", bytes,
                         " (damaged partial cache: remove the .partial folder)"));
    }
    if (!resume && ::ftruncate(fd, off_t(bytes)) != 0) {  // sparse: untouched records read as zeros
      int err = errno;
      ::close(fd);
      throw Error(format(path.string(), ": cannot size to ", bytes, " bytes: ", std::strerror(err)));
    }
    return fd;
  }

  fs::path dir_;
  size_t record_bytes_ = 0, max_frames_ = 0;
  int frames_ = -1, masks_ = -1, status_ = -1;
  std::vector<uint8_t> status_values_;
};

std::string duration_text(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  int64_t t = int64_t(std::llround(s));
  char buf[32];
  if (t >= 3600) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", (long long)(t / 3600), (long long)(t % 3600 / 60));
  } else if (t >= 60) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", (long long)(t / 60), (long long)(t % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%llds", (long long)t);
  }
  return buf;
}

// Everything the workers share while one extraction runs.
struct Run {
  const Dataset& dataset;
  const ExtractOptions& options;
  CacheFiles& files;
  std::vector<size_t> todo;  // clip indices not yet done
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;  // everything below
  std::vector<std::pair<size_t, uint8_t>> uncommitted;
  ExtractReport report;
  ExtractProgress progress;
  Clock::time_point started = Clock::now(), last_progress = Clock::now(), last_commit = Clock::now();
  std::map<size_t, std::string> failure_reasons;
  std::exception_ptr error;

  Run(const Dataset& d, const ExtractOptions& o, CacheFiles& f) : dataset(d), options(o), files(f) {}

  void update_progress_locked(bool force) {
    auto now = Clock::now();
    progress.set_elapsed(std::chrono::duration<double>(now - started).count());
    bool due = std::chrono::duration<double>(now - last_progress).count() >= options.progress_interval_s;
    if (options.on_progress && (force || due)) {
      last_progress = now;
      options.on_progress(progress);
    }
  }

  void finish_clip_locked(size_t index, uint8_t status) {
    uncommitted.emplace_back(index, status);
    ++progress.done;
    if (status == kFailed) ++progress.failed;
    // Commit in groups: each commit costs three fdatasyncs.
    if (uncommitted.size() >= 64 || std::chrono::duration<double>(Clock::now() - last_commit).count() > 5) {
      files.commit(uncommitted);
      uncommitted.clear();
      last_commit = Clock::now();
    }
    update_progress_locked(false);
  }

  void process(size_t index) {
    const Clip& clip = dataset.clips[index];
    try {
      VideoFrames v = decode_clip(clip, options.sampling);
      XCLIP_CHECK(v.size == options.sampling.size && v.frames <= options.sampling.max_frames,
                  "decoder returned ", v.frames, " frames of ", v.size, " px");
      files.write_clip(index, v);
      std::lock_guard<std::mutex> lock(mutex);
      ++report.extracted;
      finish_clip_locked(index, kDone);
      return;
    } catch (const std::exception& e) {
      VideoProblem problem{clip.video_id, clip.path.string(), e.what()};
      files.write_failed(index);
      std::lock_guard<std::mutex> lock(mutex);
      report.problems.push_back(problem);
      failure_reasons[index] = e.what();
      ++report.failed;
      if (options.on_video_problem) options.on_video_problem(problem);
      finish_clip_locked(index, kFailed);
      if (options.strict && !error) {
        error = std::make_exception_ptr(Error(format("extract (strict): video ", clip.video_id, ": ", e.what(),
                                                     " (fix or remove it, then run again to resume)")));
        stop = true;
      }
    }
  }

  void worker() {
    while (!stop) {
      size_t k = next++;
      if (k >= todo.size()) return;
      if (options.stop_after >= 0 && int64_t(k) >= options.stop_after) return;
      try {
        process(todo[k]);
      } catch (...) {  // an I/O error on the cache itself: stop everything
        std::lock_guard<std::mutex> lock(mutex);
        if (!error) error = std::current_exception();
        stop = true;
      }
    }
  }
};

json failures_json(const Run& run, const Dataset& d) {
  json failures = json::array();
  for (size_t i = 0; i < d.clips.size(); ++i) {
    if (run.files.statuses()[i] != kFailed) continue;
    auto it = run.failure_reasons.find(i);
    failures.push_back({{"key", clip_key(d.clips[i])}, {"reason", it == run.failure_reasons.end() ? "" : it->second}});
  }
  return failures;
}

}  // namespace

std::string ExtractProgress::line() const {
  double pct = total > 0 ? 100.0 * double(done) / double(total) : 100.0;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f%%", pct);
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.2f", clips_per_second);
  return format(done, "/", total, " clips (", buf, "), ", rate, " clips/s, ETA ", duration_text(eta_seconds),
                failed ? format(", ", failed, " failed") : std::string());
}

void ExtractProgress::set_elapsed(double s) {
  seconds = s;
  const int64_t this_run = done - done_before;
  clips_per_second = seconds > 0 ? double(this_run) / seconds : 0;
  eta_seconds = clips_per_second > 0 ? double(total - done) / clips_per_second : std::nan("");
}

std::string ExtractReport::summary() const {
  if (already_complete) return format(clips, " clips: the cache is already complete, nothing to do");
  std::string s = format(clips, " clips: ", extracted, " extracted");
  if (done_before) s += format(", ", done_before, " done before (resumed)");
  if (failed) s += format(", ", failed, " failed (zero frames, listed in the manifest)");
  s += format(" in ", duration_text(seconds));
  if (!finished) s += "; unfinished (run again to resume)";
  return s;
}

ExtractReport extract_frame_cache(const Dataset& dataset, const ExtractOptions& options) {
  XCLIP_CHECK(!options.out.empty(), "extract: no output folder given");
  XCLIP_CHECK(options.threads >= 1, "extract: threads must be >= 1");
  XCLIP_CHECK(options.sampling.max_frames >= 1 && options.sampling.size >= 1, "extract: bad max_frames / size");
  const fs::path out = options.out;
  fs::path partial = out;
  partial += ".partial";
  const json manifest = initial_manifest(dataset, options.sampling);

  ExtractReport result;
  result.clips = int64_t(dataset.clips.size());
  if (fs::exists(out)) {
    json existing;
    try {
      existing = detail::read_json_file(out / "manifest.json");
    } catch (const Error&) {
    }
    XCLIP_CHECK(existing.is_object() && existing.value("complete", false) && same_content(existing, manifest),
                out.string(), ": exists and is not a finished cache of this dataset with these options; "
                "remove it or choose another output folder");
    result.already_complete = result.finished = true;
    return result;
  }
  bool resume = fs::exists(partial / "manifest.json");
  if (resume) {
    json existing = detail::read_json_file(partial / "manifest.json");
    XCLIP_CHECK(same_content(existing, manifest), partial.string(),
                ": an unfinished extraction of a different dataset or sampling is here; remove it to start over");
  }

  CacheFiles files(partial, manifest, resume);
  Run run(dataset, options, files);
  for (size_t i = 0; i < dataset.clips.size(); ++i)
    if (files.statuses()[i] != kDone) run.todo.push_back(i);  // failed ones are tried again
  result.done_before = result.clips - int64_t(run.todo.size());
  run.report = result;
  run.progress.total = result.clips;
  run.progress.done = run.progress.done_before = result.done_before;

  std::vector<std::thread> pool;
  const size_t threads = std::min<size_t>(size_t(options.threads), std::max<size_t>(run.todo.size(), 1));
  for (size_t t = 0; t < threads; ++t) pool.emplace_back([&run] { run.worker(); });
  for (auto& t : pool) t.join();

  files.commit(run.uncommitted);
  run.uncommitted.clear();
  run.update_progress_locked(true);
  result = run.report;
  result.seconds = run.progress.seconds;
  if (run.error) std::rethrow_exception(run.error);
  bool all_attempted = std::all_of(files.statuses().begin(), files.statuses().end(),
                                   [](uint8_t s) { return s != kPending; });
  if (!all_attempted) return result;  // stop_after: left resumable

  json final_manifest = manifest;
  final_manifest["complete"] = true;
  final_manifest["created"] = utc_now();
  final_manifest["failures"] = failures_json(run, dataset);
  final_manifest["stats"] = {{"clips", result.clips}, {"failed", final_manifest["failures"].size()}};
  write_manifest(partial / "manifest.json", final_manifest);
  std::error_code ec;
  fs::rename(partial, out, ec);
  XCLIP_CHECK(!ec, out.string(), ": cannot rename ", partial.string(), " into place: ", ec.message());
  sync_dir(out.parent_path().empty() ? fs::path(".") : out.parent_path());
  result.finished = true;
  return result;
}

}  // namespace xclip::data
