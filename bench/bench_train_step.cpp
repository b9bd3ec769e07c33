// Benchmark (not a test): one X-CLIP training step, ours against the PyTorch reference.
//
// The step is what the training loop (include/xclip/train/trainer.hpp) does per batch: forward
// through CLIP (ViT-B/32 on every frame, the text tower on every caption), the temporal encoder,
// the four contrasts with AOSM, the symmetric CrossEn loss (its value read back, as the loop logs
// it), backward, global grad-norm clipping to 1.0, BertAdam over the four groups of prep_optimizer
// (train::param_groups: lr 1e-4, coef_lr 1e-3, weight decay 0.2, warmup_cosine) with its own
// per-parameter clipping, clip.logit_scale clamped to ln 100. CLIP layers are frozen as
// --freeze_layer_num (default 0, the official scripts': the embeddings and ln_pre frozen).
// Random weights (CLIP's initialize_parameters) and random inputs, f32; --tf32 lets f32 GEMMs use
// TF32 tensor cores (cuda::set_allow_tf32), as torch.backends.cuda.matmul.allow_tf32 on the
// PyTorch side; --bf16 runs the model in ClipPrecision::bf16_autocast (both CLIP towers and the
// temporal encoder with bf16 GEMM operands and f32 accumulation, head, loss and BertAdam in f32
// with f32 parameters) and the PyTorch side under torch.autocast(bfloat16) over the same region.
// Inputs are put on the device once, before timing (no host-to-device copy timed).
//
// Timing: --warmup steps, then up to --steps timed steps (fewer if --budget seconds are spent),
// each ended by cuda::synchronize() and measured with steady_clock; ms/step is the median.
// Peak device memory: cuda::memory_stats().peak_in_use over the timed steps (reset_peak after the
// warm-up; weights, gradients and BertAdam moments included); on the CPU the process's VmHWM.
// Model FLOP utilisation: the step's matmul FLOPs counted analytically (bench_common.hpp; ×3 for
// forward + backward, frozen patch embedding forward only) / time / the peak of an n×n×n GEMM
// measured in the same run on the same device: f32 (TF32 when --tf32) through ops::matmul, and
// bf16 through cuda::gemm_bf16 (what a bf16 autocast run could reach).
//
// Profile (--profile): after the timed steps, one more step inside a profiling window
// (include/xclip/core/profile.hpp: cudaEvents on the backend stream on the GPU, steady_clock on the
// CPU) with regions forward (CLIP patch embedding, every visual and text resblock, ln_post/proj,
// the temporal encoder, each contrast, the loss), backward (one row per autograd op), grad-norm
// clipping and the optimizer step. Prints the regions with the largest self time and which
// fraction of the step they cover; all rows go into the JSON under "profile".
//
//   bench_train_step [--device cpu|cuda] [--batch N | --find_max_batch] [--tf32] [--bf16] [--small]
//                    [--warmup 3] [--steps 10] [--budget 120] [--freeze_layer_num 0] [--profile]
//                    [--json OUT] [--torch-script PATH] [--python python3] [--no-torch]
//
// --small: a tiny CLIP (width 64, 2 layers, 32 px, patch 8) for a plumbing run on the CPU.
// --torch_batches LIST: the batches the PyTorch side tries, largest first (with --chunk_clips, the
// one-graph PyTorch step at the largest batch it fits beside our chunked step at --batch).
// --chunk_clips N|auto: the step is models::ChunkedStep (the exact whole-batch gradient with the
// towers' graphs for N clips at a time; auto: plan_chunk_clips on the first step). The FLOP count
// and MFU stay those of the one-graph step (useful work): the recomputed tower forward is extra.
// --find_max_batch: tries 300, 256, 192, 160, 128 (one step each, out-of-memory caught,
// empty_cache between tries) and times the first that fits; PyTorch does the same search.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench_args.hpp"
#include "bench_common.hpp"
#include "xclip/autograd.hpp"
#include "xclip/core/profile.hpp"
#include "xclip/core/error.hpp"
#include "xclip/kernels/cpu.hpp"
#include "xclip/models/model.hpp"
#include "xclip/ops.hpp"
#include "xclip/models/build.hpp"
#include "xclip/models/chunked_step.hpp"
#include "xclip/train/optimizer.hpp"
#include "xclip/train/trainer.hpp"
#ifdef XCLIP_WITH_CUDA
#include "xclip/cuda/runtime.hpp"
#include "xclip/kernels/cuda.hpp"
#endif

using namespace xclip;
using namespace xclip::models;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

const std::vector<int64_t> kMaxBatchTries = {300, 256, 192, 160, 128};

struct Options {
  std::string device = "cuda";
  int64_t batch = 128;
  bool find_max_batch = false, tf32 = false, bf16 = false, small = false, torch = true, profile = false;
  int warmup = 3, steps = 10, freeze = 0;
  double budget = 120;  // seconds for the timed steps
  int64_t gemm_n = 0;   // 0: 8192 on CUDA, 1024 on the CPU (512 with --small)
  std::string json_path, torch_script, python = "python3";
  std::string chunk_clips = "0";  // models/chunked_step.hpp: a number of clips, or auto
  std::string torch_batches;      // the PyTorch side's batches to try (default: ours)
};

const char* kUsage =
    "usage: bench_train_step [--device cpu|cuda] [--batch N | --find_max_batch] [--tf32] [--bf16] [--small] "
    "[--warmup W] [--steps S] [--budget SECONDS] [--freeze_layer_num K] [--gemm-n N] [--profile] [--json OUT] "
    "[--chunk_clips N|auto] [--torch_batches 300,256,...] "
    "[--torch-script PATH] [--python EXE] [--no-torch]\n";
[[noreturn]] void usage(const std::string& why) { bench::exit_with_usage("bench_train_step", kUsage, why); }

Options parse(int argc, char** argv) {
  Options o;
  bench::Args(usage)  // grouped as the usage line
      .value("--device", o.device).value("--batch", o.batch)
      .flag("--find_max_batch", o.find_max_batch).flag("--find-max-batch", o.find_max_batch)
      .flag("--tf32", o.tf32).flag("--bf16", o.bf16).flag("--small", o.small)
      .value("--warmup", o.warmup).value("--steps", o.steps).value("--budget", o.budget)
      .value("--freeze_layer_num", o.freeze).value("--gemm-n", o.gemm_n).flag("--profile", o.profile)
      .value("--json", o.json_path).value("--torch-script", o.torch_script).value("--python", o.python)
      .flag("--no-torch", o.torch, false).value("--chunk_clips", o.chunk_clips)
      .value("--torch_batches", o.torch_batches)
      .parse(argc, argv);
  if (o.chunk_clips != "auto" && (o.chunk_clips.find_first_not_of("0123456789") != std::string::npos || o.chunk_clips.empty()))
    usage("--chunk_clips needs a number of clips >= 0 or auto");
  if (o.device != "cpu" && o.device != "cuda") usage("--device must be cpu or cuda");
  if (o.batch < 2) usage("--batch must be >= 2");
  if (o.warmup < 1 || o.steps < 1) usage("--warmup and --steps must be >= 1");
  return o;
}

bool is_out_of_memory(const std::exception& e) { return std::string(e.what()).find("out of memory") != std::string::npos; }

void synchronize(Device d) {
#ifdef XCLIP_WITH_CUDA
  if (d == Device::cuda) cuda::synchronize();
#else
  (void)d;
#endif
}

ClipConfig clip_config(const Options& o) { return o.small ? bench::small_bench_clip_config() : ClipConfig::vit_b32(); }

using Inputs = bench::TrainInputs;

// ---- the peak of a large GEMM (TFLOP/s) ------------------------------------------------------------
double time_best(Device d, int reps, const std::function<void()>& fn) {
  fn();
  fn();
  synchronize(d);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    fn();
    synchronize(d);
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

// n×n·n×n in f32 through ops::matmul on `d` (TF32 when it is allowed), built from a random
// [n/8, n] block repeated (see bench::make_train_inputs).
double peak_gemm_f32(Device d, int64_t n) {
  NoGradGuard no_grad;
  Generator g(7);
  const int64_t rows = std::max<int64_t>(1, n / 8);
  const Tensor block = Tensor::randn(Shape{rows, n}, g).to(d);
  const Tensor a = ops::concat(std::vector<Tensor>(size_t(n / rows), block), 0);
  const Tensor b = ops::transpose(a, 0, 1);
  const double s = time_best(d, d == Device::cuda ? 10 : 3, [&] { (void)ops::matmul(a, b); });
  return 2.0 * double(n) * double(n) * double(n) / s / 1e12;
}

#ifdef XCLIP_WITH_CUDA
double peak_gemm_bf16(int64_t n) {
  NoGradGuard no_grad;
  Generator g(8);
  const int64_t rows = std::max<int64_t>(1, n / 8);
  const Tensor block = Tensor::randn(Shape{rows, n}, g).to(Device::cuda);
  const Tensor a = ops::concat(std::vector<Tensor>(size_t(n / rows), block), 0).to(DType::bf16);
  Tensor c = Tensor::empty(Shape{n, n}, DType::f32, Device::cuda);
  const auto* ap = static_cast<const bf16_t*>(a.raw_data());
  auto* cp = static_cast<float*>(c.raw_data());
  const double s =
      time_best(Device::cuda, 10, [&] { cuda::gemm_bf16(false, true, n, n, n, 1.0f, ap, n, ap, n, 0.0f, cp, n); });
  return 2.0 * double(n) * double(n) * double(n) / s / 1e12;
}
#endif

// ---- our step ---------------------------------------------------------------------------------------
struct Model {
  std::unique_ptr<RetrievalModel> xclip;
  std::unique_ptr<train::BertAdam> optimizer;
  int64_t parameters = 0, trainable = 0;
  bool patch_frozen = false;
  int64_t chunk_clips = 0;  // 0: one graph; else ChunkedStep
  bool plan_chunk = false;  // --chunk_clips auto: decide on the first step
  json chunk_plan;
};

Model build_model(const Options& o, const ClipConfig& cc, const HeadConfig& xc, Device device) {
  Model m;
  m.xclip = std::make_unique<RetrievalModel>(xc, cc, o.bf16 ? ClipPrecision::bf16_autocast : ClipPrecision::f32);
  models::init_from_scratch(*m.xclip, 42);
  const auto frozen = train::freeze_clip_layers(*m.xclip, o.freeze);
  m.patch_frozen = std::find(frozen.begin(), frozen.end(), "clip.visual.conv1.weight") != frozen.end();
  m.xclip->to(device);
  m.plan_chunk = o.chunk_clips == "auto";
  if (!m.plan_chunk) m.chunk_clips = std::stoll(o.chunk_clips);
  std::vector<train::ParamGroup> groups;
  for (auto& g : train::param_groups(*m.xclip, 1e-4, 1e-3, 0.2)) groups.push_back(g.group);
  train::BertAdamOptions bo;
  bo.t_total = 1000;  // a run of 1000 steps: the schedule's value does not change the work
  bo.warmup = 0.1;
  m.optimizer = std::make_unique<train::BertAdam>(std::move(groups), bo);
  for (const Tensor& p : m.xclip->parameters()) {
    m.parameters += p.numel();
    if (p.requires_grad()) m.trainable += p.numel();
  }
  return m;
}

// The loss and its gradient: one graph, or the chunked step (--chunk_clips).
double forward_backward(Model& m, const Inputs& in) {
  if (m.plan_chunk) {
    const models::ChunkPlan plan = models::plan_chunk_clips(*m.xclip, in.ids, in.attention, in.video, in.video_mask);
    std::printf("  --chunk_clips auto: %s\n", plan.str().c_str());
    m.chunk_clips = plan.chunk_clips;
    m.plan_chunk = false;
    m.chunk_plan = {{"chunk_clips", plan.chunk_clips}, {"bytes_per_clip", plan.bytes_per_clip},
                    {"bytes_fixed", plan.bytes_fixed}, {"bytes_head", plan.bytes_head},
                    {"bytes_available", plan.bytes_available}};
  }
  if (m.chunk_clips > 0) {
    models::ChunkedStep step = [&] {
      profile::Scope region("forward");  // the towers without a graph, the head with one
      return models::ChunkedStep(*m.xclip, in.ids, in.attention, in.video, in.video_mask, m.chunk_clips);
    }();
    const double loss = step.loss_value();
    step.backward();  // the head's backward, then each chunk's tower forward + backward
    return loss;
  }
  ModelOutput out = [&] {
    profile::Scope region("forward");
    return m.xclip->forward(in.ids, in.attention, in.video, in.video_mask);
  }();
  const double loss = [&] {
    profile::Scope region("loss_item");  // the host waits for the forward here
    return out.loss.item_double();
  }();
  out.loss.backward();  // the region "backward", opened by the autograd engine
  return loss;
}

// One training step; returns the loss. The regions are what --profile reports (no cost otherwise).
double train_step(Model& m, const Inputs& in) {
  {
    profile::Scope region("zero_grad");
    m.optimizer->zero_grad();
  }
  const double loss = forward_backward(m, in);
  {
    profile::Scope region("clip_grad_norm");
    train::clip_grad_norm(m.xclip->parameters(), 1.0);
  }
  {
    profile::Scope region("optimizer_step");
    m.optimizer->step();
  }
  profile::Scope region("clamp_logit_scale");
  train::clamp_logit_scale(m.xclip->clip.logit_scale, std::log(100.0));
  return loss;
}

// One more step inside a profiling window; prints the regions and returns the report as JSON,
// with the step's wall time (profiling included) beside the window's time.
json profiled_step(Model& m, const Inputs& in, Device device) {
  synchronize(device);
  const auto t0 = Clock::now();
  profile::start(device);
  const double loss = train_step(m, in);
  profile::stop();
  synchronize(device);
  const double wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  const profile::Report report = profile::report();
  std::printf("\n");
  profile::print(report, stdout, 30);
  std::printf("profiled step: %.1f ms wall clock (loss %.4f)\n", wall_ms, loss);
  json j = profile::to_json(report);
  j["wall_ms"] = wall_ms;
  return j;
}

void release_device_memory(Device d) {
#ifdef XCLIP_WITH_CUDA
  if (d == Device::cuda) cuda::empty_cache();
#else
  (void)d;
#endif
}

std::string fmt(const char* f, double x) {
  char b[64];
  std::snprintf(b, sizeof b, f, x);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const Device device = o.device == "cuda" ? Device::cuda : Device::cpu;
  try {
#ifdef XCLIP_WITH_CUDA
    if (device == Device::cuda) {
      if (cuda::device_count() == 0) {
        std::fprintf(stderr, "bench_train_step: --device cuda but no CUDA device on this machine\n");
        return 1;
      }
      cuda::set_allow_tf32(o.tf32);
    }
#else
    if (device == Device::cuda) {
      std::fprintf(stderr, "bench_train_step: --device cuda but this build has no CUDA (XCLIP_CUDA)\n");
      return 1;
    }
#endif
    if (o.tf32 && device == Device::cpu) std::printf("bench_train_step: --tf32 has no effect on the CPU\n");
    const ClipConfig cc = clip_config(o);
    HeadConfig xc;  // the official defaults: seqTransf, 4 layers, 32 words, 12 frames, AOSM
    const int64_t L = xc.max_words, N = xc.max_frames;
    std::string device_name = "CPU, " + std::to_string(cpu::num_threads()) + " thread(s)";
#ifdef XCLIP_WITH_CUDA
    if (device == Device::cuda) device_name = cuda::device_name();
#endif
    std::printf("bench_train_step: %s, %s%s, CLIP %s\n  X-CLIP %s, %lld words, %lld frames, freeze_layer_num %d\n",
                device_name.c_str(), o.bf16 ? "bf16 autocast encoders, f32 head and weights" : "f32",
                o.tf32 && device == Device::cuda ? " (TF32 GEMMs)" : "", cc.str().c_str(),
                xc.sim_header.c_str(), (long long)L, (long long)N, o.freeze);

    // The GEMM peaks first, on an idle device.
    const int64_t gemm_n = o.gemm_n > 0 ? o.gemm_n : device == Device::cuda ? 8192 : o.small ? 512 : 1024;
    const double peak_f32 = peak_gemm_f32(device, gemm_n);
    double peak_bf16 = 0;
#ifdef XCLIP_WITH_CUDA
    if (device == Device::cuda) peak_bf16 = peak_gemm_bf16(gemm_n);
#endif
    release_device_memory(device);
    std::printf("  GEMM peak %lld³: %s %.2f TFLOP/s%s\n", (long long)gemm_n,
                device == Device::cpu ? "f32" : o.tf32 ? "TF32" : "f32", peak_f32,
                peak_bf16 > 0 ? fmt(", bf16 %.2f TFLOP/s", peak_bf16).c_str() : "");

    json tries = json::array();
    json ours, profile_json;
    {
      const auto t_build = Clock::now();
      Model model = build_model(o, cc, xc, device);
      std::printf("  model: %lld parameters, %lld trainable; built in %.1f s\n", (long long)model.parameters,
                  (long long)model.trainable, std::chrono::duration<double>(Clock::now() - t_build).count());
      std::vector<int64_t> batches = o.find_max_batch ? kMaxBatchTries : std::vector<int64_t>{o.batch};
      int64_t B = 0;
      Inputs in;
      std::vector<double> losses;
      for (int64_t b : batches) {
        try {
          in = bench::make_train_inputs(b, L, N, cc.vision.resolution, cc.text.vocab_size, device);
          losses.push_back(train_step(model, in));  // the first warm-up step: allocates the moments
          B = b;
          tries.push_back({{"batch", b}, {"fits", true}});
          break;
        } catch (const Error& e) {
          if (!is_out_of_memory(e)) throw;
          std::printf("  batch %lld: out of memory (%s)\n", (long long)b, e.what());
          tries.push_back({{"batch", b}, {"fits", false}, {"error", e.what()}});
          in = Inputs{};
          losses.clear();
          model.optimizer->zero_grad();
          release_device_memory(device);
        }
      }
      if (B == 0) throw Error("bench_train_step: no batch size fits in device memory");
      for (int i = 1; i < o.warmup; ++i) losses.push_back(train_step(model, in));
      synchronize(device);
#ifdef XCLIP_WITH_CUDA
      if (device == Device::cuda) cuda::reset_peak();
#endif
      std::vector<double> ms;
      const auto t_start = Clock::now();
      for (int i = 0; i < o.steps; ++i) {
        const auto t0 = Clock::now();
        losses.push_back(train_step(model, in));
        synchronize(device);
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (std::chrono::duration<double>(Clock::now() - t_start).count() > o.budget && i + 1 < o.steps) {
          std::printf("  stopped after %d timed steps: --budget %.0f s spent\n", i + 1, o.budget);
          break;
        }
      }
      double peak_mib = bench::peak_rss_mib();
      std::string memory_kind = "process peak RSS (VmHWM)";
#ifdef XCLIP_WITH_CUDA
      if (device == Device::cuda) {
        peak_mib = double(cuda::memory_stats().peak_in_use) / (1 << 20);
        memory_kind = "cuda::memory_stats().peak_in_use";
      }
#endif
      const bench::StepFlops f = bench::xclip_forward_flops(cc, B, B, L, N, xc.cross_num_hidden_layers);
      const double step_flops = 3 * (f.vision + f.text + f.temporal + f.heads) + (model.patch_frozen ? 1 : 2) * f.vision_patch;
      const double med = bench::median(ms);
      double mean = 0;
      for (double x : ms) mean += x / double(ms.size());
      const double tflops = step_flops / (med * 1e-3) / 1e12;
      ours = {{"batch", B},
              {"chunk_clips", model.chunk_clips},
              {"warmup_steps", o.warmup},
              {"timed_steps", ms.size()},
              {"ms_per_step_median", med},
              {"ms_per_step_mean", mean},
              {"ms_per_step", ms},
              {"clips_per_s", double(B) / (med * 1e-3)},
              {"peak_memory_mib", peak_mib},
              {"memory", memory_kind},
              {"losses", losses},
              {"parameters", model.parameters},
              {"trainable_parameters", model.trainable},
              {"step_matmul_flops", step_flops},
              {"forward_matmul_flops",
               {{"vision_blocks", f.vision}, {"vision_patch_embedding", f.vision_patch}, {"text", f.text},
                {"temporal", f.temporal}, {"heads", f.heads}}},
              {"achieved_tflops", tflops},
              {"mfu", tflops / peak_f32}};
      if (peak_bf16 > 0) ours["mfu_vs_bf16_peak"] = tflops / peak_bf16;
      if (!model.chunk_plan.is_null()) ours["chunk_plan"] = model.chunk_plan;
      if (!std::all_of(losses.begin(), losses.end(), [](double x) { return std::isfinite(x); }))
        std::printf("  warning: a non-finite loss (see losses in the JSON)\n");
      if (o.profile) profile_json = profiled_step(model, in, device);
    }
    release_device_memory(device);  // the PyTorch process shares the device

    // ---- the PyTorch side ----
    std::optional<json> torch;
    std::string why = "disabled with --no-torch";
    if (o.torch) {
      const auto script = bench::find_script(o.torch_script, "tools/reference/bench_train_step_torch.py");
      if (!script) {
        why = "tools/reference/bench_train_step_torch.py not found (use --torch-script)";
      } else {
        std::string args = "--device " + o.device + " --warmup " + std::to_string(o.warmup) + " --steps " +
                           std::to_string(o.steps) + " --budget " + fmt("%g", o.budget) + " --freeze_layer_num " +
                           std::to_string(o.freeze) + (o.tf32 ? " --tf32" : "") + (o.bf16 ? " --bf16" : "") + (o.small ? " --small" : "") +
                           (device == Device::cpu ? " --threads " + std::to_string(cpu::num_threads()) : "");
        if (!o.torch_batches.empty()) {
          args += " --batches " + o.torch_batches;
        } else if (o.find_max_batch) {
          args += " --batches ";
          for (size_t i = 0; i < kMaxBatchTries.size(); ++i)
            args += (i ? "," : "") + std::to_string(kMaxBatchTries[i]);
        } else {
          args += " --batches " + std::to_string(o.batch);
        }
        std::printf("  running the PyTorch reference: %s %s %s\n", o.python.c_str(), script->c_str(), args.c_str());
        torch = bench::run_python_json(o.python, *script, args, why);
      }
    }

    std::printf("\n| implementation | batch | ms/step (median) | clips/s | peak memory MiB | matmul TFLOP/s | MFU%s |\n",
                peak_bf16 > 0 ? " | MFU vs bf16 peak" : "");
    std::printf("|---|---:|---:|---:|---:|---:|---:%s|\n", peak_bf16 > 0 ? "|---:" : "");
    auto row = [&](const char* who, const json& r) {
      std::printf("| %s | %lld | %.1f | %.1f | %.0f | %.2f | %.1f%%", who, (long long)r["batch"].get<int64_t>(),
                  r["ms_per_step_median"].get<double>(), r["clips_per_s"].get<double>(),
                  r["peak_memory_mib"].get<double>(), r["achieved_tflops"].get<double>(), 100 * r["mfu"].get<double>());
      if (peak_bf16 > 0) std::printf(" | %.1f%%", 100 * r["mfu_vs_bf16_peak"].get<double>());
      std::printf(" |\n");
    };
    row("xclip.cpp", ours);
    json result = {{"benchmark", "train_step"},
                   {"device", o.device},
                   {"device_name", device_name},
                   {"dtype", "f32"},
                   {"bf16_autocast", o.bf16},
                   {"tf32", o.tf32 && device == Device::cuda},
                   {"clip", cc.str()},
                   {"small", o.small},
                   {"words", L},
                   {"frames", N},
                   {"freeze_layer_num", o.freeze},
                   {"find_max_batch", o.find_max_batch},
                   {"batch_tries", tries},
                   {"gemm_peak", {{"n", gemm_n}, {"f32_tflops", peak_f32}, {"tf32", o.tf32 && device == Device::cuda}}},
                   {"ours", ours}};
    if (o.profile) result["profile"] = profile_json;
    if (peak_bf16 > 0) result["gemm_peak"]["bf16_tflops"] = peak_bf16;
    if (torch && torch->contains("batch")) {
      json& t = *torch;
      // The same FLOP count and peaks for PyTorch's batch (the same model, so the same formula).
      const int64_t TB = t["batch"].get<int64_t>();
      const bench::StepFlops f = bench::xclip_forward_flops(cc, TB, TB, L, N, xc.cross_num_hidden_layers);
      const bool frozen = o.freeze >= 0;
      const double step_flops = 3 * (f.vision + f.text + f.temporal + f.heads) + (frozen ? 1 : 2) * f.vision_patch;
      t["achieved_tflops"] = step_flops / (t["ms_per_step_median"].get<double>() * 1e-3) / 1e12;
      t["mfu"] = t["achieved_tflops"].get<double>() / peak_f32;
      if (peak_bf16 > 0) t["mfu_vs_bf16_peak"] = t["achieved_tflops"].get<double>() / peak_bf16;
      row(("PyTorch " + t.value("torch", std::string("?"))).c_str(), t);
      // Time per clip, ours / PyTorch (= the ms/step ratio when both ran the same batch).
      const double ratio = (ours["ms_per_step_median"].get<double>() / double(ours["batch"].get<int64_t>())) /
                           (t["ms_per_step_median"].get<double>() / double(TB));
      std::printf("\ntime per clip, ours / PyTorch: %.2f (%s)\n", ratio, ratio <= 1 ? "ours faster or equal" : "PyTorch faster");
      result["torch"] = t;
      result["ratio_time_per_clip_ours_over_torch"] = ratio;
    } else {
      bench::record_torch_not_run(result, bool(torch), why);
    }
    bench::write_result(o.json_path, result);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train_step: %s\n", e.what());
    return 1;
  }
  return 0;
}
