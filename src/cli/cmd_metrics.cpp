// xclip-cli metrics SIM.npy: retrieval metrics of a saved [texts × videos] similarity matrix,
// as the original metrics.py computes them; prints a table and writes JSON.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "args.hpp"
#include "command.hpp"
#include "pairs.hpp"
#include "xclip/core/checked.hpp"
#include "xclip/io/file_bytes.hpp"
#include "xclip/io/npy.hpp"
#include "xclip/train/metrics.hpp"

namespace xclip::cli {
namespace {

const char* kUsage =
    "usage: xclip-cli metrics SIM.npy [--caption_video IDS.npy] [--pairs PAIRS.csv] [--json OUT.json]\n"
    "  SIM.npy            [texts, videos] similarity (ground truth on the diagonal), f32/f64\n"
    "  --caption_video    i64 [texts]: the video of each caption (multi-sentence sets such as MSVD);\n"
    "                     rows are grouped per video as the original does\n"
    "  --pairs PAIRS.csv  lines `text,video,other` (0-based): also the share of texts scoring video\n"
    "                     strictly above other (e.g. a video against its time-reversed twin)\n"
    "  --json OUT.json    also write the metrics as JSON\n";

// The similarity matrix, as f64, with errors in the user's terms: the file, texts and videos.
Tensor load_similarity(const std::string& path) {
  Tensor sim = io::load_npy(path);
  XCLIP_CHECK(sim.dtype() == DType::f32 || sim.dtype() == DType::f64, path, ": the similarity matrix must hold ",
              "float32 or float64 numbers, this file holds ", dtype_name(sim.dtype()));
  XCLIP_CHECK(sim.ndim() == 2, path, ": expected a 2-d similarity matrix [texts, videos], got shape ", sim.shape().str());
  XCLIP_CHECK(sim.dim(0) > 0 && sim.dim(1) > 0, path, ": the similarity matrix is empty (shape ", sim.shape().str(), ")");
  return sim.dtype() == DType::f64 ? sim : sim.to(DType::f64);
}

// --caption_video: one video index per text (row of the similarity matrix), each in [0, videos).
std::vector<int64_t> load_caption_video(const std::string& path, const std::string& sim_path, int64_t texts,
                                        int64_t videos) {
  const Tensor ids = io::load_npy(path);
  XCLIP_CHECK(ids.dtype() == DType::i64 || ids.dtype() == DType::i32, path, ": caption video ids must be ",
              "integers (int64 or int32), this file holds ", dtype_name(ids.dtype()));
  XCLIP_CHECK(ids.ndim() == 1 && ids.dim(0) == texts, path, ": expected one video id per text of ", sim_path, " (",
              texts, "), got shape ", ids.shape().str());
  std::vector<int64_t> out = ids.to(DType::i64).to_vector<int64_t>();
  std::vector<int64_t> per_video(size_t(videos), 0);
  for (size_t i = 0; i < out.size(); ++i) {
    XCLIP_CHECK(out[i] >= 0 && out[i] < videos, path, ": text ", i, " names video ", out[i], ", but ", sim_path,
                " has ", videos, " videos (columns)");
    ++per_video[size_t(out[i])];
  }
  // The grouped matrix is [videos, most captions of one video, videos]: refuse sizes that cannot fit.
  const int64_t most = *std::max_element(per_video.begin(), per_video.end());
  checked_nbytes(checked_mul(checked_mul(uint64_t(videos), uint64_t(most), path), uint64_t(videos), path),
                 sizeof(double), path + ": the captions grouped per video");
  return out;
}

int run_metrics(const std::vector<std::string>& argv) {
  Args args(argv, {"caption_video", "json", "pairs"}, {"help"});
  if (args.flag("help") || args.positional().size() != 1) {
    std::fputs(kUsage, args.flag("help") ? stdout : stderr);
    return args.flag("help") ? 0 : 2;
  }
  const std::string& sim_path = args.positional()[0];
  Tensor sim = load_similarity(sim_path);
  train::RetrievalMetrics t2v, v2t;
  if (auto ids = args.get("caption_video")) {
    Tensor g = train::group_by_video(sim, load_caption_video(*ids, sim_path, sim.dim(0), sim.dim(1)));
    t2v = train::text_to_video_multi(g);
    v2t = train::video_to_text_multi(g);
  } else {
    XCLIP_CHECK(sim.dim(0) == sim.dim(1), sim_path, ": ", sim.dim(0), " texts (rows) but ", sim.dim(1),
                " videos (columns): one caption per video needs a square matrix (several captions per video: "
                "give --caption_video)");
    t2v = train::compute_metrics(sim);
    Tensor simT = Tensor::empty(Shape{sim.dim(1), sim.dim(0)}, DType::f64);
    const double* s = sim.data<double>();
    for (int64_t i = 0; i < sim.dim(0); ++i)
      for (int64_t j = 0; j < sim.dim(1); ++j) simT.data<double>()[j * sim.dim(0) + i] = s[i * sim.dim(1) + j];
    v2t = train::compute_metrics(simT);
  }
  std::cout << train::format_metrics_row("text-to-video", t2v) << "\n"
            << train::format_metrics_row("video-to-text", v2t) << "\n";
  std::optional<PairAccuracy> pairs;
  if (auto path = args.get("pairs")) {
    pairs = pair_accuracy(sim, *path);
    std::printf("pairs          %lld/%lld texts score the video above the other (%.1f%%)\n",
                (long long)pairs->correct, (long long)pairs->count, pairs->percent());
  }
  if (auto out = args.get("json")) {
    nlohmann::json j = {{"text_to_video", nlohmann::json::parse(train::metrics_json(t2v))},
                        {"video_to_text", nlohmann::json::parse(train::metrics_json(v2t))}};
    if (pairs) j["pairs"] = {{"correct", pairs->correct}, {"count", pairs->count}, {"percent", pairs->percent()}};
    io::write_text_file_atomically(*out, j.dump(1) + "\n");
  }
  return 0;
}

const CommandRegistrar registrar{Command{"metrics", "R@1/5/10, MdR, MnR of a saved similarity matrix (.npy)",
                                         run_metrics}};

}  // namespace
}  // namespace xclip::cli
