// Reading a finished frame cache (see frame_cache.hpp): the manifest, then the three arrays mapped.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "xclip/io/json_file.hpp"
#include "xclip/core/error.hpp"
#include "xclip/data/dataset_readers.hpp"
#include "xclip/data/frame_cache.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace xclip::data {

// A read-only shared mapping of a whole file (nothing mapped for an empty file).
struct FrameCache::Mapping {
  const uint8_t* data = nullptr;
  size_t bytes = 0;

  Mapping(const fs::path& path, size_t expected_bytes) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    XCLIP_CHECK(fd >= 0, path.string(), ": cannot open: ", std::strerror(errno));
    struct stat st{};
    if (::fstat(fd, &st) != 0 || size_t(st.st_size) != expected_bytes) {
      ::close(fd);
      throw Error(format(path.string(), ": ", st.st_size, " bytes, the manifest implies ", expected_bytes,
                         " (damaged or unfinished cache)"));
    }
    bytes = expected_bytes;
    if (bytes > 0) {
      void* p = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
      int err = errno;
      ::close(fd);
      XCLIP_CHECK(p != MAP_FAILED, path.string(), ": cannot map: ", std::strerror(err));
      data = static_cast<const uint8_t*>(p);
    } else {
      ::close(fd);
    }
  }
  ~Mapping() {
    if (data) ::munmap(const_cast<uint8_t*>(data), bytes);
  }
};

FrameCache::~FrameCache() = default;

json sampling_to_json(const FrameSampling& s) {
  return json{{"max_frames", s.max_frames},
              {"size", s.size},
              {"slice_framepos", s.slice_framepos},
              {"feature_framerate", s.feature_framerate},
              {"rule", s.rule == FrameSampling::opencv_index ? "opencv_index" : "time_based"}};
}

std::shared_ptr<const FrameCache> FrameCache::open(const fs::path& dir) {
  const std::string name = dir.string();
  XCLIP_CHECK(fs::is_directory(dir), name, ": frame cache folder not found");
  std::shared_ptr<FrameCache> cache(new FrameCache());
  cache->dir_ = dir;
  cache->manifest_ = detail::read_json_file(dir / "manifest.json");
  const json& m = cache->manifest_;
  XCLIP_CHECK(m.is_object() && m.value("format", "") == "xclip-frame-cache", name,
              "/manifest.json: not an xclip frame cache manifest");
  XCLIP_CHECK(m.value("version", 0) == 1, name, "/manifest.json: unsupported version ", m.value("version", 0));
  XCLIP_CHECK(m.value("complete", false), name,
              ": unfinished extraction (run `xclip-cli extract` again with the same options to resume)");
  const std::string where = name + "/manifest.json";
  const json& sampling = detail::json_member(m, "sampling", json::value_t::object, where);
  cache->max_frames_ = detail::json_member(sampling, "max_frames", json::value_t::number_integer, where).get<int>();
  cache->size_ = detail::json_member(sampling, "size", json::value_t::number_integer, where).get<int>();
  XCLIP_CHECK(cache->max_frames_ >= 1 && cache->size_ >= 1, where, ": bad max_frames / size");
  const json& clips = detail::json_member(m, "clips", json::value_t::array, where);
  for (size_t i = 0; i < clips.size(); ++i) {
    std::string key =
        detail::json_member(clips[i], "key", json::value_t::string, format(where, ": clips[", i, "]")).get<std::string>();
    XCLIP_CHECK(cache->index_.emplace(key, int64_t(i)).second, where, ": clip key '", key, "' appears twice");
    cache->keys_.push_back(std::move(key));
  }
  if (auto f = m.find("failures"); f != m.end() && f->is_array()) {
    for (const auto& failure : *f) {
      auto it = cache->index_.find(failure.value("key", ""));
      if (it != cache->index_.end()) cache->failures_[it->second] = failure.value("reason", "");
    }
  }
  const size_t n = cache->keys_.size();
  cache->frames_ = std::make_unique<Mapping>(dir / "frames.u8", n * cache->record_bytes());
  cache->masks_ = std::make_unique<Mapping>(dir / "masks.u8", n * size_t(cache->max_frames_));
  cache->status_ = std::make_unique<Mapping>(dir / "status.u8", n);
  for (size_t i = 0; i < n; ++i)
    XCLIP_CHECK(cache->status_->data[i] == 1 || cache->status_->data[i] == 2, name, "/status.u8: clip ", i,
                " was never extracted (damaged cache)");
  return cache;
}

std::optional<int64_t> FrameCache::find(const std::string& key) const {
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

FrameCache::ClipView FrameCache::clip(int64_t index) const {
  XCLIP_CHECK(index >= 0 && index < clip_count(), dir_.string(), ": clip index ", index, " out of range (",
              clip_count(), " clips)");
  ClipView v;
  v.rgb = frames_->data + size_t(index) * record_bytes();
  v.mask = masks_->data + size_t(index) * size_t(max_frames_);
  v.failed = status_->data[index] == 2;
  while (v.frames < max_frames_ && v.mask[v.frames]) ++v.frames;
  return v;
}

std::string FrameCache::failure_reason(int64_t index) const {
  auto it = failures_.find(index);
  return it == failures_.end() ? std::string() : it->second;
}

void FrameCache::check_compatible(const FrameSampling& sampling) const {
  const json want = sampling_to_json(sampling);
  const json& have = manifest_.at("sampling");
  for (const auto& [key, value] : want.items()) {
    XCLIP_CHECK(have.contains(key) && have.at(key) == value, dir_.string(), ": the cache holds frames made with ", key,
                " = ", have.contains(key) ? io::json_excerpt(have.at(key), 80) : "?", ", the loader asks for ", io::json_excerpt(value, 80),
                " (extract again with these options)");
  }
}

void FrameCache::gather(const std::vector<int64_t>& clips, uint8_t* rgb, uint8_t* mask, int threads) const {
  for (int64_t c : clips)
    XCLIP_CHECK(c >= 0 && c < clip_count(), dir_.string(), ": clip index ", c, " out of range");
  const size_t record = record_bytes(), F = size_t(max_frames_);
  auto copy_range = [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      std::memcpy(rgb + i * record, frames_->data + size_t(clips[i]) * record, record);
      if (mask) std::memcpy(mask + i * F, masks_->data + size_t(clips[i]) * F, F);
    }
  };
  const size_t n = clips.size();
  const size_t workers = std::clamp<size_t>(size_t(std::max(threads, 1)), 1, std::max<size_t>(n, 1));
  if (workers == 1) {
    copy_range(0, n);
    return;
  }
  std::vector<std::thread> pool;
  for (size_t w = 1; w < workers; ++w) pool.emplace_back(copy_range, n * w / workers, n * (w + 1) / workers);
  copy_range(0, n / workers);
  for (auto& t : pool) t.join();
}

}  // namespace xclip::data
