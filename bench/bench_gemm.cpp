// GEMM benchmark: our CPU GEMM (xclip::cpu::gemm) in GFLOP/s on square and CLIP/X-CLIP shapes,
// and, in the same run, the same products through Debian's PyTorch (tools/reference/
// bench_gemm_torch.py, same thread count) with the ratio ours / PyTorch.
//
//   bench_gemm [--threads N] [--samples S] [--min-seconds X] [--json PATH] [--no-torch]
//              [--isa avx512|avx2|generic] [--torch-script PATH] [--filter TEXT]
//
// Each number is the best of S timing samples, a sample repeating the product for at least X
// seconds (other work on the machine only ever makes a sample slower, so the best is the most
// repeatable figure).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "../src/kernels/gemm_kernel.hpp"
#include "bench_args.hpp"
#include "bench_common.hpp"
#include "xclip/kernels/cpu.hpp"

namespace {

namespace fs = std::filesystem;

struct GemmShape {
  std::string name;  // what the product is in the model
  std::string dtype;  // "f32" or "f64"
  int64_t M, N, K;
  bool ta, tb;
  int64_t batch = 1;  // > 1: gemm_batched over that many independent products
};

// ViT-B/32 on 12 frames (12 × 50 tokens = 600 rows, width 768) and the text tower on one 32-token
// caption (width 512). nn.Linear computes x·Wᵀ with W stored [out, in]: trans_b. The backward
// products of the largest layer (dX = dY·W, dW = dYᵀ·X) cover the other transpose cases. The
// attention products are batched over 12 frames × 12 heads (head width 64).
std::vector<GemmShape> default_shapes() {
  return {
      {"square 512", "f32", 512, 512, 512, false, false},
      {"square 1024", "f32", 1024, 1024, 1024, false, false},
      {"square 2048", "f32", 2048, 2048, 2048, false, false},
      {"ViT qkv in_proj", "f32", 600, 2304, 768, false, true},
      {"ViT out_proj", "f32", 600, 768, 768, false, true},
      {"ViT mlp c_fc", "f32", 600, 3072, 768, false, true},
      {"ViT mlp c_proj", "f32", 600, 768, 3072, false, true},
      {"ViT c_fc dX (bwd)", "f32", 600, 768, 3072, false, false},
      {"ViT c_fc dW (bwd)", "f32", 3072, 768, 600, true, false},
      {"text qkv in_proj", "f32", 32, 1536, 512, false, true},
      {"text out_proj", "f32", 32, 512, 512, false, true},
      {"text mlp c_fc", "f32", 32, 2048, 512, false, true},
      {"text mlp c_proj", "f32", 32, 512, 2048, false, true},
      {"ViT attn q·kᵀ ×144", "f32", 50, 50, 64, false, true, 144},
      {"ViT attn p·v ×144", "f32", 50, 64, 50, false, false, 144},
      {"square 1024", "f64", 1024, 1024, 1024, false, false},
      {"ViT qkv in_proj", "f64", 600, 2304, 768, false, true},
  };
}

struct Options {
  int threads = 0;
  int samples = 5;
  double min_seconds = 0.1;
  std::string json_path, isa, torch_script, filter;
  bool torch = true;
};

const char* kUsage =
    "usage: bench_gemm [--threads N] [--samples S] [--min-seconds X] [--json PATH] [--no-torch]\n"
    "                  [--isa avx512|avx2|generic] [--torch-script PATH] [--filter TEXT]\n";
[[noreturn]] void usage(const std::string& why) { xclip::bench::exit_with_usage("bench_gemm", kUsage, why); }

Options parse_options(int argc, char** argv) {
  Options o;
  xclip::bench::Args(usage)
      .value("--threads", o.threads).value("--samples", o.samples).value("--min-seconds", o.min_seconds)
      .value("--json", o.json_path).flag("--no-torch", o.torch, false).value("--isa", o.isa)
      .value("--torch-script", o.torch_script).value("--filter", o.filter)
      .parse(argc, argv);
  o.samples = std::max(1, o.samples);
  return o;
}

double flops(const GemmShape& s) { return 2.0 * double(s.M) * double(s.N) * double(s.K) * double(s.batch); }

template <class T>
double time_ours(const GemmShape& s, const Options& o) {
  std::mt19937 rng(0);
  std::uniform_real_distribution<double> u(-0.5, 0.5);
  auto random = [&](int64_t n) {
    std::vector<T> v(static_cast<size_t>(n));
    for (auto& x : v) x = T(u(rng));
    return v;
  };
  const std::vector<T> A = random(s.M * s.K * s.batch), B = random(s.K * s.N * s.batch);
  std::vector<T> C(size_t(s.M * s.N * s.batch));
  const int64_t lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
  auto run = [&] {
    if (s.batch == 1)
      xclip::cpu::gemm<T>(s.ta, s.tb, s.M, s.N, s.K, 1, A.data(), lda, B.data(), ldb, 0, C.data(), s.N);
    else
      xclip::cpu::gemm_batched<T>(s.ta, s.tb, s.M, s.N, s.K, 1, A.data(), lda, s.M * s.K, B.data(), ldb, s.K * s.N, 0,
                                  C.data(), s.N, s.M * s.N, s.batch);
  };
  using clock = std::chrono::steady_clock;
  run();  // warm-up: threads started, buffers allocated, pages touched
  const auto t0 = clock::now();
  run();
  const double once = std::max(std::chrono::duration<double>(clock::now() - t0).count(), 1e-7);
  const int iters = std::max(1, int(o.min_seconds / once));
  double best = 1e30;
  for (int r = 0; r < o.samples; ++r) {
    const auto start = clock::now();
    for (int i = 0; i < iters; ++i) run();
    best = std::min(best, std::chrono::duration<double>(clock::now() - start).count() / iters);
  }
  return flops(s) / best / 1e9;
}

// ---- the PyTorch side -------------------------------------------------------------------------

struct TorchResult {
  std::map<std::string, double> gflops;  // key: dtype + " " + name
  std::string version, blas;
  int threads = 0;
};

// Runs the script; on failure returns nullopt and says why in `why`.
std::optional<TorchResult> run_torch(const std::vector<GemmShape>& shapes, int threads, const Options& o,
                                     std::string& why) {
  const std::string python = "/usr/bin/python3";
  if (!fs::exists(python)) return why = python + " not found", std::nullopt;
  const auto script = xclip::bench::find_script(o.torch_script, "tools/reference/bench_gemm_torch.py");
  if (!script) return why = "tools/reference/bench_gemm_torch.py not found (use --torch-script)", std::nullopt;
  std::string args = "--threads " + std::to_string(threads) + " --samples " + std::to_string(o.samples) +
                     " --min-seconds " + std::to_string(o.min_seconds);
  for (size_t i = 0; i < shapes.size(); ++i) {
    const GemmShape& s = shapes[i];
    args += " --shape s" + std::to_string(i) + ":" + s.dtype + ":" + std::to_string(s.M) + ":" + std::to_string(s.N) +
            ":" + std::to_string(s.K) + ":" + (s.ta ? "1" : "0") + ":" + (s.tb ? "1" : "0") + ":" +
            std::to_string(s.batch);
  }
  const std::optional<nlohmann::json> j = xclip::bench::run_python_json(python, *script, args, why);
  if (!j) return std::nullopt;
  if (!j->contains("results")) return why = "the PyTorch script printed no results", std::nullopt;
  TorchResult r;
  r.version = j->value("torch", "?");
  r.blas = j->value("blas", "?");
  r.threads = j->value("threads", 0);
  for (const auto& e : (*j)["results"]) {
    const size_t i = std::stoul(e["name"].get<std::string>().substr(1));
    if (i < shapes.size()) r.gflops[shapes[i].dtype + " " + shapes[i].name] = e["gflops"].get<double>();
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  if (!o.isa.empty() && !xclip::cpu::gemm_detail::select_isa(o.isa.c_str()))
    usage("this CPU cannot run the " + o.isa + " GEMM kernels");
  if (o.threads > 0) xclip::cpu::set_num_threads(o.threads);
  const int threads = xclip::cpu::num_threads();

  std::vector<GemmShape> shapes;
  for (const auto& s : default_shapes())
    if (o.filter.empty() || (s.dtype + " " + s.name).find(o.filter) != std::string::npos) shapes.push_back(s);

  std::printf("bench_gemm: xclip::cpu::gemm, %s kernels, %d thread(s), best of %d samples of >= %.2f s\n",
              xclip::cpu::gemm_detail::selected_isa(), threads, o.samples, o.min_seconds);
  std::vector<double> ours;
  for (const auto& s : shapes) {
    ours.push_back(s.dtype == "f64" ? time_ours<double>(s, o) : time_ours<float>(s, o));
    std::printf("  %-4s %-22s %6.1f GFLOP/s\n", s.dtype.c_str(), s.name.c_str(), ours.back());
    std::fflush(stdout);
  }

  std::optional<TorchResult> torch;
  std::string why = "disabled with --no-torch";
  if (o.torch) torch = run_torch(shapes, threads, o, why);
  if (torch)
    std::printf("\nPyTorch %s, %d thread(s); BLAS: %s\n", torch->version.c_str(), torch->threads, torch->blas.c_str());
  else
    std::printf("\nPyTorch reference not run: %s. Only our numbers are shown.\n", why.c_str());

  std::printf("\n| dtype | shape | M×N×K | op | ours GFLOP/s | PyTorch GFLOP/s | ours / PyTorch |\n");
  std::printf("|---|---|---|---|---:|---:|---:|\n");
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < shapes.size(); ++i) {
    const GemmShape& s = shapes[i];
    const std::string op = std::string(s.ta ? "Aᵀ" : "A") + "·" + (s.tb ? "Bᵀ" : "B");
    const std::string dims = (s.batch > 1 ? std::to_string(s.batch) + " × " : std::string()) + std::to_string(s.M) +
                             "×" + std::to_string(s.N) + "×" + std::to_string(s.K);
    nlohmann::json row = {{"dtype", s.dtype}, {"shape", s.name},    {"M", s.M},
                          {"N", s.N},         {"K", s.K},           {"batch", s.batch},
                          {"trans_a", s.ta},  {"trans_b", s.tb},    {"ours_gflops", ours[i]}};
    std::string theirs = "–", ratio = "–";
    if (torch && torch->gflops.count(s.dtype + " " + s.name)) {
      const double t = torch->gflops.at(s.dtype + " " + s.name);
      char b1[32], b2[32];
      std::snprintf(b1, sizeof b1, "%.1f", t);
      std::snprintf(b2, sizeof b2, "%.2f", ours[i] / t);
      theirs = b1;
      ratio = b2;
      row["torch_gflops"] = t;
      row["ratio"] = ours[i] / t;
    }
    std::printf("| %s | %s | %s | %s | %.1f | %s | %s |\n", s.dtype.c_str(), s.name.c_str(), dims.c_str(), op.c_str(),
                ours[i], theirs.c_str(), ratio.c_str());
    rows.push_back(row);
  }

  if (!o.json_path.empty()) {
    nlohmann::json j = {{"benchmark", "gemm"},
                        {"threads", threads},
                        {"isa", xclip::cpu::gemm_detail::selected_isa()},
                        {"samples", o.samples},
                        {"min_seconds", o.min_seconds},
                        {"results", rows}};
    if (torch) j["torch"] = {{"version", torch->version}, {"blas", torch->blas}, {"threads", torch->threads}};
    else j["torch"] = {{"not_run", why}};
    xclip::bench::write_json_atomically(o.json_path, j);
    std::printf("\nwrote %s\n", o.json_path.c_str());
  }
  return 0;
}
