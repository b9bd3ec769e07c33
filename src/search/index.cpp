// The index folder (search/index.hpp): read, write atomically, select and join rows.
#include "xclip/search/index.hpp"

#include <cstring>
#include <system_error>

#include "xclip/core/error.hpp"
#include "xclip/io/file_bytes.hpp"
#include "xclip/io/json_file.hpp"
#include "xclip/io/safetensors.hpp"

namespace xclip::search {
namespace fs = std::filesystem;

namespace {

constexpr const char* kManifest = "index.json";
constexpr const char* kFeatures = "features.safetensors";
constexpr const char* kVideos = "videos.json";

// Rows of a contiguous CPU tensor along axis 0, any dtype.
Tensor take_rows(const Tensor& x, const std::vector<int64_t>& rows) {
  std::vector<int64_t> dims = x.shape().vec();
  const size_t row_bytes = x.nbytes() / size_t(std::max<int64_t>(dims.at(0), 1));
  dims[0] = int64_t(rows.size());
  Tensor out = Tensor::empty(Shape(dims), x.dtype());
  const auto* src = static_cast<const uint8_t*>(x.raw_data());
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  for (size_t i = 0; i < rows.size(); ++i) {
    XCLIP_CHECK(rows[i] >= 0 && rows[i] < x.dim(0), "index: row ", rows[i], " of ", x.str());
    std::memcpy(dst + i * row_bytes, src + size_t(rows[i]) * row_bytes, row_bytes);
  }
  return out;
}

Tensor join_rows(const std::vector<Tensor>& parts) {
  std::vector<const Tensor*> defined;
  for (const Tensor& p : parts)
    if (p.defined() && p.dim(0) > 0) defined.push_back(&p);
  if (defined.empty()) return Tensor();
  std::vector<int64_t> dims = defined[0]->shape().vec();
  dims[0] = 0;
  for (const Tensor* p : defined) dims[0] += p->dim(0);
  Tensor out = Tensor::empty(Shape(dims), defined[0]->dtype());
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  for (const Tensor* p : defined) {
    XCLIP_CHECK(p->dtype() == out.dtype() && p->numel() / std::max<int64_t>(p->dim(0), 1) ==
                                                 out.numel() / std::max<int64_t>(dims[0], 1),
                "index: cannot join ", p->str(), " to ", out.str(), " (another model or frame count?)");
    std::memcpy(dst, p->raw_data(), p->nbytes());
    dst += p->nbytes();
  }
  return out;
}

std::string hex64(uint64_t h) {
  static const char* digits = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) s[size_t(i)] = digits[h & 15];
  return s;
}

// FNV-1a: a stable name from the id (thumbnail files), the same on every platform.
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

std::string thumbnail_name(const std::string& id) { return "thumbs/" + hex64(fnv1a(id)) + ".jpg"; }
std::string frame_strip_name(const std::string& id) { return "thumbs/" + hex64(fnv1a(id)) + ".frames.jpg"; }

fs::path staging_dir(const fs::path& dir) {
  fs::path d = dir;
  if (!d.has_filename()) d = d.parent_path();
  return d.string() + ".staging";
}

static fs::path old_dir(const fs::path& dir) {
  fs::path d = dir;
  if (!d.has_filename()) d = d.parent_path();
  return d.string() + ".old";
}

bool is_index(const fs::path& dir) { return fs::is_regular_file(dir / kManifest); }

void recover_interrupted_swap(const fs::path& dir) {
  // write_index renames DIR to DIR.old, then DIR.staging to DIR: a crash between the two leaves
  // only DIR.old, which is the last complete index.
  if (!fs::exists(dir) && is_index(old_dir(dir))) fs::rename(old_dir(dir), dir);
}

VideoSides select_videos(const VideoSides& s, const std::vector<int64_t>& rows) {
  if (s.count() == 0) return {};
  return {take_rows(s.video, rows), take_rows(s.frames, rows), take_rows(s.mask, rows)};
}

VideoSides concat_videos(const std::vector<VideoSides>& parts) {
  std::vector<Tensor> v, f, m;
  for (const VideoSides& p : parts) {
    v.push_back(p.video);
    f.push_back(p.frames);
    m.push_back(p.mask);
  }
  return {join_rows(v), join_rows(f), join_rows(m)};
}

nlohmann::json videos_to_json(const std::vector<VideoRecord>& videos, const std::vector<FailedVideo>& failed) {
  nlohmann::json vs = nlohmann::json::array(), fs_ = nlohmann::json::array();
  for (const VideoRecord& r : videos)
    vs.push_back({{"id", r.id},         {"path", r.path},     {"size", r.size},
                  {"mtime", r.mtime},   {"duration", r.duration}, {"fps", r.fps},
                  {"frames", r.frames}, {"times", r.times},   {"thumbnail", r.thumbnail},
                  {"frame_strip", r.frame_strip}});
  for (const FailedVideo& f : failed)
    fs_.push_back({{"id", f.id}, {"path", f.path}, {"size", f.size}, {"mtime", f.mtime}, {"reason", f.reason}});
  return {{"videos", vs}, {"failed", fs_}};
}

void videos_from_json(const nlohmann::json& j, std::vector<VideoRecord>* videos, std::vector<FailedVideo>* failed) {
  for (const auto& v : j.at("videos")) {
    VideoRecord r;
    r.id = v.at("id");
    r.path = v.at("path");
    r.size = v.at("size");
    r.mtime = v.at("mtime");
    r.duration = v.at("duration");
    r.fps = v.at("fps");
    r.frames = v.at("frames");
    r.times = v.at("times").get<std::vector<double>>();
    r.thumbnail = v.at("thumbnail");
    r.frame_strip = v.at("frame_strip");
    videos->push_back(std::move(r));
  }
  for (const auto& v : j.at("failed"))
    failed->push_back({v.at("id"), v.at("path"), v.at("size"), v.at("mtime"), v.at("reason")});
}

SearchIndex read_index(const fs::path& dir) {
  recover_interrupted_swap(dir);
  XCLIP_CHECK(is_index(dir), dir.string(), ": not a search index (no ", kManifest, "; make one with xclip-cli index)");
  SearchIndex index;
  index.manifest = io::read_json_file(dir / kManifest, "search index");
  XCLIP_CHECK(index.manifest.value("format", "") == kIndexFormat, (dir / kManifest).string(),
              ": not an xclip search index (format '", index.manifest.value("format", ""), "')");
  XCLIP_CHECK(index.manifest.value("version", 0) == kIndexVersion, (dir / kManifest).string(), ": index version ",
              index.manifest.value("version", 0), ", this build reads version ", kIndexVersion, " (index again)");
  try {
    videos_from_json(io::read_json_file(dir / kVideos, "search index videos"), &index.videos, &index.failed);
  } catch (const nlohmann::json::exception& e) {
    throw Error(format((dir / kVideos).string(), ": ", e.what()));
  }
  if (index.videos.empty()) return index;
  const io::NamedTensors t = io::load_safetensors((dir / kFeatures).string());
  // Copies in f32: the file may be replaced by the next `index` while this process runs.
  index.features = {t.at("video").to(DType::f32).clone(), t.at("frames").to(DType::f32).clone(),
                    t.at("mask").to(DType::i64).clone()};
  const int64_t V = int64_t(index.videos.size());
  const VideoSides& f = index.features;
  XCLIP_CHECK(f.video.ndim() == 2 && f.video.dim(0) == V && f.frames.ndim() == 3 && f.frames.dim(0) == V &&
                  f.mask.ndim() == 2 && f.mask.dim(0) == V && f.mask.dim(1) == f.frames.dim(1) &&
                  f.frames.dim(2) == f.video.dim(1),
              (dir / kFeatures).string(), ": features video ", f.video.str(), ", frames ", f.frames.str(), ", mask ",
              f.mask.str(), " do not match the ", V, " videos of ", kVideos);
  return index;
}

void write_index(const fs::path& dir, const SearchIndex& index, bool half, const fs::path& thumbs_from) {
  // Never move aside a folder that is not an index: it may hold the user's files.
  XCLIP_CHECK(!fs::exists(dir) || is_index(dir) || (fs::is_directory(dir) && fs::is_empty(dir)), dir.string(),
              ": exists and is not a search index; choose another --out");
  const fs::path stage = staging_dir(dir);
  fs::create_directories(stage / "thumbs");
  for (const VideoRecord& r : index.videos)
    for (const std::string& name : {r.thumbnail, r.frame_strip}) {
      if (fs::exists(stage / name)) continue;
      const fs::path from = thumbs_from / name;
      XCLIP_CHECK(!thumbs_from.empty() && fs::exists(from), "index: thumbnail ", name, " of ", r.id,
                  " is neither new nor in the previous index ", thumbs_from.string());
      fs::copy_file(from, stage / name);
    }
  if (index.features.count() > 0) {
    io::NamedTensors t("search index features");
    const DType dt = half ? DType::f16 : DType::f32;
    t.add("video", index.features.video.to(dt));
    t.add("frames", index.features.frames.to(dt));
    t.add("mask", index.features.mask.to(DType::i64));
    io::save_safetensors((stage / kFeatures).string(), t);
  }
  io::write_text_file_atomically(stage / kVideos, videos_to_json(index.videos, index.failed).dump(1) + "\n");
  nlohmann::json manifest = index.manifest;
  manifest["format"] = kIndexFormat;
  manifest["version"] = kIndexVersion;
  manifest["dtype"] = half ? "f16" : "f32";
  io::write_text_file_atomically(stage / kManifest, manifest.dump(1) + "\n");
  // The swap: DIR -> DIR.old, DIR.staging -> DIR, remove DIR.old. A reader sees the old index
  // or the new one (read_index puts DIR.old back when it finds only that).
  const fs::path old = old_dir(dir);
  fs::remove_all(old);
  if (fs::exists(dir)) fs::rename(dir, old);
  fs::rename(stage, dir);
  std::error_code ec;
  fs::remove_all(old, ec);
}

}  // namespace xclip::search
