// xclip-cli export: a search index's features for a vector database. The video-sentence
// embedding (one L2-normalised vector per video) is a plain vector: its dot product with the
// query's sentence embedding (times global_mat_weight for X-CLIP) is the video-sentence term. The
// fine-grained terms (video-word, sentence-frame, frame-word) read every frame feature and the
// query's words, so they are exported too (.safetensors) but are not one vector per video.
#include <cstdio>

#include "args.hpp"
#include "command.hpp"
#include "xclip/core/error.hpp"
#include "xclip/io/file_bytes.hpp"
#include "xclip/io/npy.hpp"
#include "xclip/io/safetensors.hpp"
#include "xclip/search/index.hpp"

namespace xclip::cli {
namespace {
namespace fs = std::filesystem;

constexpr const char* kUsage =
    "usage: xclip-cli export --index INDEX --out FILE.npy | FILE.safetensors\n"
    "  .npy          the video-sentence embeddings [videos, D] (f32, L2-normalised): plain vectors\n"
    "  .safetensors  video [videos, D], frames [videos, N, D] and mask [videos, N] (what the fine-grained\n"
    "                X-CLIP terms need)\n"
    "Both write FILE's stem + .ids.json beside it: the video ids and paths, row by row.\n";

int run_export(const std::vector<std::string>& argv) {
  Args a(argv, {"index", "out"}, {"help"});
  if (a.flag("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  XCLIP_CHECK(a.has("index") && a.has("out"), "export: --index and --out are required\n", kUsage);
  const fs::path out = a.get("out", "");
  const std::string ext = out.extension().string();
  XCLIP_CHECK(ext == ".npy" || ext == ".safetensors", "export: --out ", out.string(),
              ": give a .npy or .safetensors file name");
  const search::SearchIndex idx = search::read_index(a.get("index", ""));
  XCLIP_CHECK(idx.features.count() > 0, a.get("index", ""), ": the index holds no video");
  if (ext == ".npy") {
    io::save_npy(out.string(), idx.features.video);
  } else {
    io::NamedTensors t("export");
    t.add("video", idx.features.video);
    t.add("frames", idx.features.frames);
    t.add("mask", idx.features.mask);
    io::save_safetensors(out.string(), t);
  }
  nlohmann::json ids = nlohmann::json::array();
  for (const search::VideoRecord& r : idx.videos) ids.push_back({{"id", r.id}, {"path", r.path}});
  fs::path ids_file = out;
  ids_file.replace_extension(".ids.json");
  io::write_text_file_atomically(ids_file, ids.dump(1) + "\n");
  std::printf("export: %s (%lld videos x %lld) and %s\n", out.string().c_str(), (long long)idx.features.count(),
              (long long)idx.features.video.dim(1), ids_file.string().c_str());
  return 0;
}

const CommandRegistrar kRegister{
    Command{"export", "write a search index's embeddings as .npy / .safetensors for vector databases", run_export}};

}  // namespace
}  // namespace xclip::cli
