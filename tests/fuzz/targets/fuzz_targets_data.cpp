// Fuzz targets that need the FFmpeg data library: dataset annotations and video files.
#include <fstream>

#include "fuzz_targets.hpp"
#include "xclip/core/error.hpp"
#include "xclip/data/dataset_readers.hpp"
#include "xclip/data/video.hpp"

namespace xclip::fuzz {

namespace fs = std::filesystem;

namespace {

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

// The annotation file each layout reads, in the order of the input's first byte; the others of a
// layout are small valid files, so the fuzzed bytes reach the parser that reads them.
struct Layout {
  data::DatasetKind kind;
  const char* fuzzed;  // the file that gets the input's bytes
  std::vector<std::pair<const char*, const char*>> fixed;
};

const std::vector<Layout>& layouts() {
  static const std::vector<Layout> all = {
      {data::DatasetKind::msrvtt, "MSRVTT_data.json", {{"MSRVTT_train.9k.csv", "video_id\nvideo0\n"}}},
      {data::DatasetKind::msrvtt,
       "MSRVTT_train.9k.csv",
       {{"MSRVTT_data.json", R"({"sentences":[{"video_id":"video0","caption":"a cat"}],"videos":[{"video_id":"video0"}]})"}}},
      {data::DatasetKind::msvd, "raw-captions.pkl", {{"train_list.txt", "video0\n"}}},
      {data::DatasetKind::lsmdc, "LSMDC16_annos_training.csv", {}},
      {data::DatasetKind::didemo, "train_data.json", {{"train_list.txt", "video0\n"}}},
      {data::DatasetKind::activitynet, "train.json", {{"train_ids.json", R"(["v_video0"])"}}},
      {data::DatasetKind::activitynet, "train_ids.json", {{"train.json", R"({"v_video0":{"duration":3,"timestamps":[[0,1]],"sentences":["a"]}})"}}},
      // appended last: the committed regression inputs keep the layout their first byte picked
      {data::DatasetKind::vatex, "ref_captions.json", {{"train_list.txt", "video0\n"}}},
  };
  return all;
}

}  // namespace

bool run_annotations(const uint8_t* data, size_t size) {
  if (size == 0) return false;
  const Layout& layout = layouts()[data[0] % layouts().size()];
  const fs::path dir = scratch_dir() / "annotations";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir / "videos");
  for (const auto& [name, text] : layout.fixed) write_text(dir / name, text);
  std::ofstream(dir / layout.fuzzed, std::ios::binary)
      .write(reinterpret_cast<const char*>(data + 1), std::streamsize(size - 1));
  data::DatasetOptions options;
  options.kind = layout.kind;
  options.split = "train";
  options.data_path = dir;
  options.features_path = dir / "videos";
  try {
    switch (layout.kind) {
      case data::DatasetKind::msrvtt: data::read_msrvtt(options); break;
      case data::DatasetKind::msvd: data::read_msvd(options); break;
      case data::DatasetKind::lsmdc: data::read_lsmdc(options); break;
      case data::DatasetKind::didemo: data::read_didemo(options); break;
      case data::DatasetKind::activitynet: data::read_activitynet(options); break;
      case data::DatasetKind::vatex: data::read_vatex(options); break;
    }
    return true;
  } catch (const Error&) {
    return false;
  }
}

// A video file through the decoder and both frame-sampling rules (the first byte picks the rule
// and the container's extension, which decides the demuxer FFmpeg probes first).
bool run_video(const uint8_t* data, size_t size) {
  if (size == 0) return false;
  static const char* const kExtensions[] = {".mp4", ".webm", ".avi", ".mkv"};
  const fs::path p = scratch_file(std::string("input") + kExtensions[data[0] % 4], data + 1, size - 1);
  data::FrameSampling s;
  s.max_frames = 4;
  s.size = 32;
  s.rule = (data[0] / 4) % 2 == 0 ? data::FrameSampling::opencv_index : data::FrameSampling::time_based;
  try {
    const data::VideoFrames v = data::load_video_frames(p.string(), s);
    (void)v;
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace xclip::fuzz
