// Benchmark (not a test): the X-CLIP evaluation from cached CLIP features, ours against the
// PyTorch reference, at MSR-VTT 1k-A shapes: 1000 captions × 1000 videos, 32 words, 12 frames,
// D 512.
//
// The cached features are random CLIP outputs: sentence [T, 1, D], words [T, L, D], frames
// [V, N, D] and the masks (captions of 5..25 words, every frame valid), on the device before
// timing. Timed: XClipHead::similarity_matrix, the model's chunked evaluation path: the
// seqTransf temporal encoder (4 layers, D / 64 heads) once per block of batch_size_val videos,
// then the four contrasts with AOSM block by block (batch_size_val texts × videos), giving the
// full [T, V] matrix; its frame-word term is the fused kernel (k::aosm_frame_word). Then, unless
// --no-frame-word-paths, the frame-word term alone over all T × V: fused against the chunked
// graph of aosm_pool ops (the training path's forward), one run each, and their largest difference. The PyTorch side (tools/reference/bench_eval_torch.py) times the heads of
// tools/reference/xclip_reference.py in f32 on the same device twice: as main_xclip.py's
// _run_on_single_gpu does (temporal encoder re-run for every text block) and with the temporal
// encoder once per video block (our schedule); the ratio is against the latter.
//
// Timing: --warmup runs, then up to --reps runs (stopping when --budget seconds are spent), each
// ended by cuda::synchronize() and measured with steady_clock; the median is reported.
//
//   bench_eval [--device cpu|cuda] [--texts 1000] [--videos 1000] [--words 32] [--frames 12]
//              [--dim 512] [--batch_size_val 40] [--tf32] [--small] [--warmup 2] [--reps 5]
//              [--budget 60] [--json OUT] [--torch-script PATH] [--python python3] [--no-torch]
//              [--no-frame-word-paths]
//
// --small: 60 × 60, D 64 (two blocks each way, one partial): a plumbing run on the CPU.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "bench_args.hpp"
#include "bench_common.hpp"
#include "xclip/autograd.hpp"
#include "xclip/core/error.hpp"
#include "xclip/kernels/cpu.hpp"
#include "xclip/models/heads/xclip_head.hpp"
#include "xclip/ops.hpp"
#ifdef XCLIP_WITH_CUDA
#include "xclip/cuda/runtime.hpp"
#include "xclip/kernels/cuda.hpp"
#endif

using namespace xclip;
using namespace xclip::models;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string device = "cuda";
  int64_t texts = 1000, videos = 1000, words = 32, frames = 12, dim = 512, batch_size_val = 40;
  bool tf32 = false, small = false, torch = true, frame_word_paths = true;
  int warmup = 2, reps = 5;
  double budget = 60;
  std::string json_path, torch_script, python = "python3";
};

const char* kUsage =
    "usage: bench_eval [--device cpu|cuda] [--texts T] [--videos V] [--words L] [--frames N] [--dim D] "
    "[--batch_size_val B] [--tf32] [--small] [--warmup W] [--reps R] [--budget SECONDS] [--json OUT] "
    "[--torch-script PATH] [--python EXE] [--no-torch] [--no-frame-word-paths]\n";
[[noreturn]] void usage(const std::string& why) { bench::exit_with_usage("bench_eval", kUsage, why); }

Options parse(int argc, char** argv) {
  Options o;
  bench::Args args(usage);
  // Grouped as the usage line: device, sizes, precision, timing, output and the PyTorch side.
  args.value("--device", o.device)
      .value("--texts", o.texts).value("--videos", o.videos).value("--words", o.words).value("--frames", o.frames)
      .value("--dim", o.dim).value("--batch_size_val", o.batch_size_val).flag("--tf32", o.tf32).flag("--small", o.small)
      .value("--warmup", o.warmup).value("--reps", o.reps).value("--budget", o.budget).value("--json", o.json_path)
      .value("--torch-script", o.torch_script).value("--python", o.python).flag("--no-torch", o.torch, false)
      .flag("--no-frame-word-paths", o.frame_word_paths, false)
      .parse(argc, argv);
  const bool sized = args.given("--texts") || args.given("--videos") || args.given("--words") ||
                     args.given("--frames") || args.given("--dim");
  if (o.small && !sized) o.texts = 60, o.videos = 60, o.dim = 64;
  if (o.device != "cpu" && o.device != "cuda") usage("--device must be cpu or cuda");
  if (o.warmup < 1 || o.reps < 1) usage("--warmup and --reps must be >= 1");
  if (o.dim % 64 != 0) usage("--dim must be a multiple of 64 (the temporal encoder has D / 64 heads)");
  return o;
}

void synchronize(Device d) {
#ifdef XCLIP_WITH_CUDA
  if (d == Device::cuda) cuda::synchronize();
#else
  (void)d;
#endif
}

// The frame-word term alone, both paths on the same features, one timed run each after one
// warm-up: the fused kernel (what similarity_matrix runs) and the chunked graph of aosm_pool ops
// (what runs with gradients; here its forward only, reached by a words leaf that requires grad).
json frame_word_paths(const HeadConfig& config, const XClipHead& heads, const TextFeatures& texts,
                      const VideoFeatures& videos, Device device) {
  NoGradGuard no_grad;
  const TextSide text = make_text_side(texts);
  const VideoSide video = heads.video_side(videos);
  auto timed = [&](bool graph) {
    Tensor out;
    double ms = 0;
    for (int i = 0; i < 2; ++i) {
      TextSide t = text;
      set_grad_enabled(graph);
      if (graph) t.words = text.words.detach().set_requires_grad(true);
      const auto t0 = Clock::now();
      out = frame_word_similarity(config, heads.aosm(), t, video).detach();
      synchronize(device);
      ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      set_grad_enabled(false);
    }
    return std::make_pair(ms, out.to(Device::cpu).to_vector<double>());
  };
  const auto [fused_ms, fused] = timed(false);
  const auto [graph_ms, graph] = timed(true);
  double diff = 0;
  for (size_t i = 0; i < fused.size(); ++i) diff = std::max(diff, std::abs(fused[i] - graph[i]));
  return {{"fused_ms", fused_ms}, {"chunked_graph_ms", graph_ms}, {"max_abs_diff", diff}};
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const Device device = o.device == "cuda" ? Device::cuda : Device::cpu;
  try {
    std::string device_name = "CPU, " + std::to_string(cpu::num_threads()) + " thread(s)";
#ifdef XCLIP_WITH_CUDA
    if (device == Device::cuda) {
      if (cuda::device_count() == 0) {
        std::fprintf(stderr, "bench_eval: --device cuda but no CUDA device on this machine\n");
        return 1;
      }
      cuda::set_allow_tf32(o.tf32);
      device_name = cuda::device_name();
    }
#else
    if (device == Device::cuda) {
      std::fprintf(stderr, "bench_eval: --device cuda but this build has no CUDA (XCLIP_CUDA)\n");
      return 1;
    }
#endif
    const int64_t T = o.texts, V = o.videos, L = o.words, N = o.frames, D = o.dim;
    HeadConfig config;
    config.max_words = L;
    config.max_frames = N;
    config.batch_size_val = o.batch_size_val;
    std::printf("bench_eval: %s, f32%s; %lld captions × %lld videos, %lld words, %lld frames, D %lld, "
                "batch_size_val %lld, seqTransf %d layers\n",
                device_name.c_str(), o.tf32 && device == Device::cuda ? " (TF32 GEMMs)" : "", (long long)T,
                (long long)V, (long long)L, (long long)N, (long long)D, (long long)o.batch_size_val,
                config.cross_num_hidden_layers);

    json ours;
    {
      XClipHead heads(config, HeadDims{D, 77});
      heads.reset_parameters(42);
      const Tensor logit_scale = Tensor::full(Shape{}, std::log(100.0), DType::f32, device);  // CLIP's
      {
        // The eight matrices near the identity (as trained ones are), logit_scale ln 100.
        NoGradGuard no_grad;
        Generator g(5);
        for (auto& [name, p] : heads.named_parameters())
          if (name.find("_weight") != std::string::npos && p.ndim() == 2 && p.dim(0) == p.dim(1) &&
              name.find("transformerClip") == std::string::npos)
            p.copy_(ops::add(p, Tensor::randn(p.shape(), g, p.dtype(), 0.0, 0.01)));
      }
      heads.to(device);

      NoGradGuard no_grad;
      Generator g(3);
      std::vector<int64_t> wm(size_t(T * L), 0);
      for (int64_t t = 0; t < T; ++t) {
        const int64_t n = 7 + int64_t(g.next_u64() % uint64_t(std::max<int64_t>(1, L - 7)));
        for (int64_t i = 0; i < std::min(n, L); ++i) wm[size_t(t * L + i)] = 1;
      }
      TextFeatures texts{Tensor::randn(Shape{T, 1, D}, g).to(device), Tensor::randn(Shape{T, L, D}, g).to(device),
                         Tensor::from_vector(wm, Shape{T, L}).to(device)};
      VideoFeatures videos{Tensor::randn(Shape{V, N, D}, g).to(device), Tensor::ones(Shape{V, N}, DType::i64, device)};

      Tensor sim;
      for (int i = 0; i < o.warmup; ++i) sim = heads.similarity_matrix(texts, videos, logit_scale);
      synchronize(device);
#ifdef XCLIP_WITH_CUDA
      if (device == Device::cuda) cuda::reset_peak();
#endif
      std::vector<double> ms;
      const auto t_start = Clock::now();
      for (int i = 0; i < o.reps; ++i) {
        const auto t0 = Clock::now();
        sim = heads.similarity_matrix(texts, videos, logit_scale);
        synchronize(device);
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (std::chrono::duration<double>(Clock::now() - t_start).count() > o.budget && i + 1 < o.reps) {
          std::printf("  stopped after %d timed runs: --budget %.0f s spent\n", i + 1, o.budget);
          break;
        }
      }
      XCLIP_CHECK(sim.dim(0) == T && sim.dim(1) == V, "bench_eval: similarity is ", sim.shape().str());
      double peak_mib = bench::peak_rss_mib();
      std::string memory_kind = "process peak RSS (VmHWM)";
#ifdef XCLIP_WITH_CUDA
      if (device == Device::cuda) {
        peak_mib = double(cuda::memory_stats().peak_in_use) / (1 << 20);
        memory_kind = "cuda::memory_stats().peak_in_use";
      }
#endif
      const std::vector<double> s = sim.to(Device::cpu).to_vector<double>();
      const bool finite = std::all_of(s.begin(), s.end(), [](double x) { return std::isfinite(x); });
      if (!finite) std::printf("  warning: the similarity matrix has non-finite values\n");
      const double med = bench::median(ms);
      ours = {{"ms_median", med}, {"ms", ms}, {"peak_memory_mib", peak_mib}, {"memory", memory_kind},
              {"finite", finite}, {"sim_00", s[0]}};
      if (o.frame_word_paths) ours["frame_word"] = frame_word_paths(config, heads, texts, videos, device);
    }
#ifdef XCLIP_WITH_CUDA
    if (device == Device::cuda) cuda::empty_cache();  // the PyTorch process shares the device
#endif

    ClipConfig dims;  // only embed_dim matters without the towers
    dims.embed_dim = D;
    const bench::StepFlops f = bench::xclip_forward_flops(dims, T, V, L, N, config.cross_num_hidden_layers, false);
    // Temporal encoder once per video (ours and the hoisted PyTorch run) + the heads on every pair.
    const double flops = f.temporal + f.heads;
    ours["matmul_tflops"] = flops / (ours["ms_median"].get<double>() * 1e-3) / 1e12;

    std::optional<json> torch;
    std::string why = "disabled with --no-torch";
    if (o.torch) {
      const auto script = bench::find_script(o.torch_script, "tools/reference/bench_eval_torch.py");
      if (!script) {
        why = "tools/reference/bench_eval_torch.py not found (use --torch-script)";
      } else {
        const std::string args =
            "--device " + o.device + " --texts " + std::to_string(T) + " --videos " + std::to_string(V) +
            " --words " + std::to_string(L) + " --frames " + std::to_string(N) + " --dim " + std::to_string(D) +
            " --batch_size_val " + std::to_string(o.batch_size_val) + " --warmup " + std::to_string(o.warmup) +
            " --reps " + std::to_string(o.reps) + " --budget " + std::to_string(o.budget) + (o.tf32 ? " --tf32" : "") +
            (device == Device::cpu ? " --threads " + std::to_string(cpu::num_threads()) : "");
        std::printf("  running the PyTorch reference: %s %s %s\n", o.python.c_str(), script->c_str(), args.c_str());
        torch = bench::run_python_json(o.python, *script, args, why);
      }
    }

    std::printf("\n| implementation | schedule | ms (median) | matmul TFLOP/s | peak memory MiB |\n|---|---|---:|---:|---:|\n");
    std::printf("| xclip.cpp | temporal once per video block | %.1f | %.3f | %.0f |\n", ours["ms_median"].get<double>(),
                ours["matmul_tflops"].get<double>(), ours["peak_memory_mib"].get<double>());
    if (ours.contains("frame_word")) {
      const json& fw = ours["frame_word"];
      std::printf("\nframe-word term alone: fused kernel %.1f ms, chunked graph %.1f ms (%.1fx); max |difference| %.2e\n",
                  fw["fused_ms"].get<double>(), fw["chunked_graph_ms"].get<double>(),
                  fw["chunked_graph_ms"].get<double>() / fw["fused_ms"].get<double>(), fw["max_abs_diff"].get<double>());
    }
    json result = {{"benchmark", "eval"},
                   {"device", o.device},
                   {"device_name", device_name},
                   {"dtype", "f32"},
                   {"tf32", o.tf32 && device == Device::cuda},
                   {"texts", T},
                   {"videos", V},
                   {"words", L},
                   {"frames", N},
                   {"dim", D},
                   {"batch_size_val", o.batch_size_val},
                   {"matmul_flops_hoisted", flops},
                   {"ours", ours}};
    if (torch && torch->contains("hoisted")) {
      json& t = *torch;
      const double T_blocks = std::ceil(double(T) / double(o.batch_size_val));
      const double flops_original = f.temporal * T_blocks + f.heads;
      for (const char* k : {"hoisted", "original"}) {
        if (!t.contains(k)) continue;
        const double fl = std::string(k) == "hoisted" ? flops : flops_original;
        t[k]["matmul_tflops"] = fl / (t[k]["ms_median"].get<double>() * 1e-3) / 1e12;
        std::printf("| PyTorch %s | %s | %.1f | %.3f | %.0f |\n", t.value("torch", std::string("?")).c_str(),
                    std::string(k) == "hoisted" ? "temporal once per video block"
                                                : "temporal re-run per text block (main_xclip.py)",
                    t[k]["ms_median"].get<double>(), t[k]["matmul_tflops"].get<double>(),
                    t[k]["peak_memory_mib"].get<double>());
      }
      const double ratio = ours["ms_median"].get<double>() / t["hoisted"]["ms_median"].get<double>();
      std::printf("\ntime ours / PyTorch (same schedule): %.2f", ratio);
      result["ratio_ours_over_torch_hoisted"] = ratio;
      if (t.contains("original")) {
        const double r2 = ours["ms_median"].get<double>() / t["original"]["ms_median"].get<double>();
        std::printf("; ours / PyTorch as main_xclip.py: %.2f", r2);
        result["ratio_ours_over_torch_original"] = r2;
      }
      std::printf("\n");
      result["torch"] = t;
    } else {
      bench::record_torch_not_run(result, bool(torch), why);
    }
    bench::write_result(o.json_path, result);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_eval: %s\n", e.what());
    return 1;
  }
  return 0;
}
