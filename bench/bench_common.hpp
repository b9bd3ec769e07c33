// Helpers shared by the benchmarks (not a library: header-only, bench/ only): the matmul FLOP count
// of X-CLIP at given shapes, the PyTorch side through a python3 child that prints one JSON object,
// atomic JSON output, the process's peak RSS, the CPU's name.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "xclip/autograd.hpp"
#include "xclip/io/file_bytes.hpp"
#include "xclip/models/build.hpp"
#include "xclip/models/clip.hpp"
#include "xclip/ops.hpp"

namespace xclip::bench {

namespace fs = std::filesystem;

// ---- matmul FLOPs (2·M·N·K per product), forward only --------------------------------------------
// One pre-LN transformer block over `tokens` tokens of width W with 4W MLP: qkv in_proj, q·kᵀ and
// p·v over all heads, out_proj, c_fc, c_proj.
inline double block_flops(double tokens, double W) {
  return 2 * tokens * W * 3 * W + 2 * 2 * tokens * tokens * W + 2 * tokens * W * W + 2 * 2 * tokens * W * 4 * W;
}

struct StepFlops {
  double vision = 0, vision_patch = 0, text = 0, temporal = 0, heads = 0;
  double total() const { return vision + vision_patch + text + temporal + heads; }
};

// The X-CLIP forward of `texts` captions (L words) and `videos` videos (N frames): ViT per frame
// (patch embedding, blocks, CLS projection), text tower per caption (blocks, projection of every
// position: words are used), temporal encoder (4 blocks of width D over N tokens) per video, the
// heads: video-sentence (S·G, ·Uᵀ), video-word (Wd·Uᵀ, p·M), sentence-frame (S·Frᵀ, q·M) and
// frame-word (Wd·Lm, the [T·L, V·N] product, the four AOSM matrix products).
inline StepFlops xclip_forward_flops(const models::ClipConfig& c, int64_t texts, int64_t videos, int64_t L, int64_t N,
                                     int cross_layers, bool towers = true) {
  StepFlops f;
  const double T = double(texts), V = double(videos), Ld = double(L), Nd = double(N), D = double(c.embed_dim);
  if (towers) {
    const double frames = V * Nd, grid2 = double(c.vision.grid * c.vision.grid), Wv = double(c.vision.width);
    f.vision_patch = frames * 2 * grid2 * 3 * double(c.vision.patch * c.vision.patch) * Wv;
    f.vision = frames * (double(c.vision.layers) * block_flops(double(c.vision.tokens()), Wv) + 2 * Wv * D);
    const double Wt = double(c.text.width);
    f.text = T * (double(c.text.layers) * block_flops(Ld, Wt) + 2 * Ld * Wt * D);
  }
  f.temporal = V * double(cross_layers) * block_flops(Nd, D);
  f.heads = 2 * T * D * D + 2 * T * V * D                     // video-sentence
            + 2 * T * Ld * V * D + 2 * T * V * Ld * Ld        // video-word
            + 2 * T * V * Nd * D + 2 * T * V * Nd * Nd        // sentence-frame
            + 2 * T * Ld * D * D + 2 * T * Ld * V * Nd * D    // frame-word: Wd·Lm, the fine-grained matrix
            + 2 * T * V * Nd * Ld * Ld + 2 * T * Ld * V * Nd * Nd + 2 * T * V * Nd * Nd + 2 * T * V * Ld * Ld;
  return f;
}

// ---- training inputs ---------------------------------------------------------------------------
// --small: a tiny CLIP (width 64, 2 layers, 32 px, patch 8) for plumbing runs on the CPU.
inline models::ClipConfig small_bench_clip_config() {
  models::ScratchClipOptions s;
  s.vision_width = 64, s.vision_layers = 2, s.patch = 8, s.image_resolution = 32;
  s.text_width = 64, s.text_layers = 2, s.embed_dim = 64, s.head_width = 32;
  return models::scratch_clip_config(s);
}

struct TrainInputs {
  Tensor ids, attention, video, video_mask;
};

// B captions of 5..L-2 random tokens between SOT (vocab-2) and EOT (vocab-1), and B clips of N
// frames: min(B, 8) random clips repeated (the values do not matter for time or memory; generating
// B·12·3·224² normals on one CPU core would take longer than the step), every frame valid.
// `with_video` false leaves video undefined (the masks are enough for the head's shapes).
inline TrainInputs make_train_inputs(int64_t B, int64_t L, int64_t N, int64_t R, int64_t vocab, Device device,
                                     bool with_video = true) {
  NoGradGuard no_grad;
  Generator g(1234);
  std::vector<int64_t> ids(size_t(B * L), 0), att(size_t(B * L), 0);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t words = 5 + int64_t(g.next_u64() % uint64_t(std::max<int64_t>(1, L - 7)));
    ids[size_t(b * L)] = vocab - 2;
    for (int64_t i = 1; i <= words; ++i) ids[size_t(b * L + i)] = 1 + int64_t(g.next_u64() % uint64_t(vocab - 3));
    ids[size_t(b * L + words + 1)] = vocab - 1;
    for (int64_t i = 0; i < words + 2; ++i) att[size_t(b * L + i)] = 1;
  }
  TrainInputs in;
  in.ids = Tensor::from_vector(ids, Shape{B, L}).to(device);
  in.attention = Tensor::from_vector(att, Shape{B, L}).to(device);
  in.video_mask = Tensor::ones(Shape{B, N}, DType::i64, device);
  if (!with_video) return in;
  const int64_t distinct = std::min<int64_t>(B, 8);
  const Tensor clips = Tensor::randn(Shape{distinct, N, 3, R, R}, g).to(device);
  std::vector<Tensor> parts;
  for (int64_t b = 0; b < B; b += distinct) parts.push_back(ops::narrow(clips, 0, 0, std::min(distinct, B - b)));
  in.video = parts.size() == 1 ? parts[0] : ops::concat(parts, 0);
  return in;
}

// ---- timing ----------------------------------------------------------------------------------
inline double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// ---- the PyTorch side ----------------------------------------------------------------------------
inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// `rel` (e.g. tools/reference/bench_train_step_torch.py) from the working directory or any folder
// above the executable (a benchmark sits in <checkout>/<build folder>/).
inline std::optional<fs::path> find_script(const std::string& given, const std::string& rel) {
  if (!given.empty()) return fs::exists(given) ? std::optional<fs::path>(given) : std::nullopt;
  if (fs::exists(rel)) return fs::path(rel);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path())
      if (fs::exists(dir / rel)) return dir / rel;
  return std::nullopt;
}

// Runs `python script args`, whose last stdout line is one JSON object; nullopt with `why` on
// failure (the script reports its own failures as {"error": "..."}). stderr goes to ours.
inline std::optional<nlohmann::json> run_python_json(const std::string& python, const fs::path& script,
                                                     const std::string& args, std::string& why) {
  const std::string cmd = shell_quote(python) + " " + shell_quote(script.string()) + " " + args;
  std::fflush(stdout);
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return why = "cannot start " + python, std::nullopt;
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  const int status = pclose(pipe);
  // The JSON object is the last non-empty line (torch may print warnings before it).
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  const size_t nl = out.rfind('\n');
  const std::string last = nl == std::string::npos ? out : out.substr(nl + 1);
  nlohmann::json j = nlohmann::json::parse(last, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error")) return why = j["error"].get<std::string>(), std::nullopt;
  if (status != 0 || !j.is_object())
    return why = "the PyTorch script failed (exit status " + std::to_string(status) + "): " + cmd, std::nullopt;
  return j;
}

inline void write_json_atomically(const std::string& path, const nlohmann::json& j) {
  io::write_text_file_atomically(path, j.dump(2) + "\n");
}

// The end of a benchmark whose PyTorch side gave no result: why, on stdout and under "torch".
// `script_ran`: the script ran but printed no usable result (then `why` is not its reason).
inline void record_torch_not_run(nlohmann::json& result, bool script_ran, std::string why) {
  if (script_ran) why = "the PyTorch script printed no result";
  std::printf("\nPyTorch reference not run: %s\n", why.c_str());
  result["torch"] = {{"not_run", why}};
}

// Writes the result JSON (atomically) when a path was given, and says where.
inline void write_result(const std::string& path, const nlohmann::json& result) {
  if (path.empty()) return;
  write_json_atomically(path, result);
  std::printf("wrote %s\n", path.c_str());
}

// The CPU model, for the record of where a number was measured.
inline std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("model name")) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// VmHWM of this process in MiB (the CPU runs' memory figure).
inline double peak_rss_mib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.starts_with("VmHWM:")) return std::stod(line.substr(6)) / 1024.0;
  return -1;
}

}  // namespace xclip::bench
