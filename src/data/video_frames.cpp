// load_video_frames / load_image_frames / load_folder_frames: a path to the uint8 CLIP crops
// of the frames X-CLIP's loaders would use, plus the mask.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <new>

#include "xclip/core/error.hpp"
#include "xclip/data/image.hpp"
#include "xclip/data/video.hpp"
#include "xclip/data/video_decoder.hpp"
#include "xclip/data/video_sampling.hpp"

namespace fs = std::filesystem;

namespace xclip::data {
namespace {

void check_sampling(const FrameSampling& s) {
  XCLIP_CHECK(s.max_frames > 0, "frame sampling: max_frames must be positive, got ", s.max_frames);
  XCLIP_CHECK(s.size > 0 && s.size <= 4096, "frame sampling: size must be in 1..4096, got ", s.size);
  XCLIP_CHECK(s.feature_framerate >= 0, "frame sampling: feature_framerate must be >= 0, got ", s.feature_framerate);
  XCLIP_CHECK(s.slice_framepos >= 0 && s.slice_framepos <= 2, "frame sampling: slice_framepos must be 0, 1 or 2, got ",
              s.slice_framepos);
  XCLIP_CHECK(s.frame_order >= 0 && s.frame_order <= 2, "frame sampling: frame_order must be 0, 1 or 2, got ",
              s.frame_order);
  XCLIP_CHECK(s.decode_threads >= 0, "frame sampling: decode_threads must be >= 0, got ", s.decode_threads);
}

// Puts the kept frames (in sampling order) into the output in frame_order, with the mask.
VideoFrames assemble(std::vector<SampledFrame>& kept, int sampled, const FrameSampling& s) {
  VideoFrames v;
  v.size = s.size;
  v.frames = int(kept.size());
  v.sampled = sampled;
  v.promised = sampled;  // images and folders hold exactly what they show
  v.mask.assign(size_t(s.max_frames), 0);
  std::fill(v.mask.begin(), v.mask.begin() + v.frames, uint8_t(1));
  std::vector<int> order(kept.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = int(i);
  order = order_frames(std::move(order), s.frame_order, s.shuffle_seed);
  const size_t frame_bytes = size_t(s.size) * size_t(s.size) * 3;
  v.rgb.resize(frame_bytes * kept.size());
  for (size_t i = 0; i < order.size(); ++i) {
    const SampledFrame& f = kept[size_t(order[i])];
    std::copy(f.crop.begin(), f.crop.end(), v.rgb.begin() + std::ptrdiff_t(i * frame_bytes));
    v.seconds.push_back(f.second);
  }
  return v;
}

// Runs `body`, turning allocation failures and library exceptions into an Error naming the file.
template <class F>
VideoFrames guarded(const std::string& path, F&& body) {
  try {
    return body();
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Error(format(path, ": out of memory while decoding (corrupt frame size?)"));
  } catch (const std::exception& e) {
    throw Error(format(path, ": ", e.what()));
  }
}

// Sampled frames of a folder: image k is second k.
class FolderSource final : public FrameSource {
 public:
  FolderSource(std::vector<fs::path> files, const FrameSampling& s) : files_(std::move(files)), size_(s.size) {
    const int count = int(files_.size());
    first_ = s.start_sec >= 0 ? int(s.start_sec) : 0;
    int last = count - 1;
    if (s.start_sec >= 0 && s.end_sec >= 0) last = std::min(last, int(s.end_sec));
    count_ = std::max(0, last - first_ + 1);
  }
  int candidates() const override { return count_; }
  int expected() const override { return count_; }
  std::string describe(int k) const override { return files_[size_t(first_ + k)].string(); }
  bool read(int k, SampledFrame& out) override {
    const RgbImage img = load_image(files_[size_t(first_ + k)].string());
    out.crop.resize(size_t(size_) * size_t(size_) * 3);
    clip_resize_crop(img.pixels.data(), img.width, img.height, size_t(img.width) * 3, size_, out.crop.data());
    out.second = double(first_ + k);
    return true;
  }

 private:
  std::vector<fs::path> files_;
  int size_;
  int first_ = 0, count_ = 0;
};

}  // namespace

VideoFrames load_video_frames(const std::string& path, const FrameSampling& s) {
  check_sampling(s);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error(format(path, ": no such video file"));
  return guarded(path, [&] {
    VideoDecoder decoder(path, s.decode_threads);
    const StreamFacts& f = decoder.facts();
    if (int64_t(f.width) * f.height > int64_t(1) << 28)
      throw Error(format(path, ": frame size ", f.width, "x", f.height, " is implausibly large"));
    std::unique_ptr<FrameSource> source = s.rule == FrameSampling::time_based ? make_time_source(decoder, s)
                                                                              : make_opencv_index_source(decoder, s);
    int sampled = 0;
    std::vector<SampledFrame> kept = read_selected(*source, s, &sampled);
    if (kept.empty() && decoder.frames_decoded() == 0) {
      std::string why = VideoDecoder::last_log_message();
      throw Error(format(path, ": no video frame could be decoded", why.empty() ? "" : " (" + why + ")"));
    }
    VideoFrames v = assemble(kept, sampled, s);
    v.promised = std::clamp(source->expected(), 0, source->candidates());
    v.damaged = decoder.damage_seen() || f.truncated;
    return v;
  });
}

VideoFrames load_image_frames(const std::string& path, const FrameSampling& s) {
  check_sampling(s);
  return guarded(path, [&] {
    const RgbImage img = load_image(path);
    std::vector<SampledFrame> kept(1);
    kept[0].crop.resize(size_t(s.size) * size_t(s.size) * 3);
    clip_resize_crop(img.pixels.data(), img.width, img.height, size_t(img.width) * 3, s.size, kept[0].crop.data());
    return assemble(kept, 1, s);
  });
}

VideoFrames load_folder_frames(const std::string& dir, const FrameSampling& s) {
  check_sampling(s);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(format(dir, ": no such folder of frames"));
  return guarded(dir, [&] {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_regular_file() && is_image_path(entry.path().string())) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    if (files.empty()) throw Error(format(dir, ": folder holds no image files (jpg, png, bmp, ...)"));
    FolderSource source(std::move(files), s);
    int sampled = 0;
    std::vector<SampledFrame> kept = read_selected(source, s, &sampled);
    return assemble(kept, sampled, s);
  });
}

VideoFrames load_frames(const std::string& path, const FrameSampling& s) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return load_folder_frames(path, s);
  if (is_image_path(path)) return load_image_frames(path, s);
  return load_video_frames(path, s);
}

}  // namespace xclip::data
