// Benchmark (not a test): the peak memory and time of a training step's forward + backward, one
// graph against the chunked step (models/chunked_step.hpp), on the CPU, and what follows for a
// ViT-B/32 batch-300 step.
//
// Measured (tensor_memory(): every tensor allocation, live and peak; not the process RSS):
//   - per precision (f32, bf16 autocast, the official fp16 regime) and batch: the peak above the
//     model's weights of one step's forward + backward (gradients included), one graph and chunked,
//     with the wall time and the process's CPU time of each (std::clock, all threads: the work
//     done, which a machine shared with other jobs does not inflate the way it does wall time);
//   - the pieces: the towers' forward + backward for 1 and 2 clips (per clip = the difference,
//     fixed = the rest), the head's forward + backward on zero features of the batch and of the
//     projected batch (--project, 300), the BertAdam moments (one optimizer step), the input batch.
// Derived (printed as a table and written to the JSON): the projected peak of a --project step,
// one graph = weights + moments + input + grads-and-fixed + B·per_clip + head(B), chunked = the same
// with chunk·per_clip; checked against the measured steps of the small batches (the table prints
// predicted beside measured). The same tensors on a GPU (the ops are the same graph) plus the CUDA
// context and cuBLAS workspace, which are not counted here.
//
//   bench_chunked_memory [--small] [--batches 4,8,16] [--chunk 4] [--precisions f32,bf16,fp16]
//                        [--project 300] [--json OUT]
#include <chrono>
#include <ctime>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "bench_args.hpp"
#include "bench_common.hpp"
#include "xclip/autograd.hpp"
#include "xclip/core/device_memory.hpp"
#include "xclip/kernels/cpu.hpp"
#include "xclip/models/build.hpp"
#include "xclip/models/chunked_step.hpp"
#include "xclip/ops.hpp"
#include "xclip/train/precision.hpp"
#include "xclip/train/trainer.hpp"

using namespace xclip;
using namespace xclip::models;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  bool small = false;
  std::string batches = "4,8,16", precisions = "f32,bf16,fp16";
  int64_t chunk = 4, project = 300;
  std::string json_path;
};

const char* kUsage =
    "usage: bench_chunked_memory [--small] [--batches 4,8,16] [--chunk 4] [--precisions f32,bf16,fp16] "
    "[--project 300] [--json OUT]\n";
[[noreturn]] void usage(const std::string& why) { bench::exit_with_usage("bench_chunked_memory", kUsage, why); }

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  bench::Args(usage)
      .flag("--small", o.small).value("--batches", o.batches).value("--chunk", o.chunk)
      .value("--precisions", o.precisions).value("--project", o.project).value("--json", o.json_path)
      .parse(argc, argv);
  if (o.chunk < 1 || o.project < 2) usage("--chunk must be >= 1 and --project >= 2");
  for (const std::string& b : split(o.batches))
    if (b.empty() || b.find_first_not_of("0123456789") != std::string::npos || std::stoll(b) < 2)
      usage("--batches: whole numbers >= 2, comma separated");
  for (const std::string& p : split(o.precisions))
    if (p != "f32" && p != "bf16" && p != "fp16") usage("--precisions: f32, bf16 and/or fp16");
  return o;
}

ClipConfig clip_config(bool small) { return small ? bench::small_bench_clip_config() : ClipConfig::vit_b32(); }

ClipPrecision precision_of(const std::string& p) {
  return p == "fp16" ? ClipPrecision::official_fp16 : p == "bf16" ? ClipPrecision::bf16_autocast : ClipPrecision::f32;
}

using Inputs = bench::TrainInputs;

Inputs make_inputs(int64_t B, int64_t L, int64_t N, int64_t R, int64_t vocab, bool with_video = true) {
  return bench::make_train_inputs(B, L, N, R, vocab, Device::cpu, with_video);
}

void drop_gradients(RetrievalModel& model) {
  for (auto& [name, p] : model.named_parameters()) p.zero_grad();
}

struct Measured {
  size_t peak = 0;  // above the in-use bytes before the step
  double seconds = 0;
  double cpu_seconds = 0;  // the process's CPU time (all threads): the work, even on a shared machine
  double loss = 0;
};

// One forward + backward (chunk 0: one graph), from no gradients; the gradients are dropped after.
Measured measure_step(RetrievalModel& model, const Inputs& in, int64_t chunk) {
  drop_gradients(model);
  const size_t before = tensor_memory(Device::cpu).in_use;
  reset_tensor_memory_peak(Device::cpu);
  const auto t0 = Clock::now();
  const std::clock_t c0 = std::clock();
  Measured m;
  if (chunk == 0) {
    ModelOutput out = model.forward(in.ids, in.attention, in.video, in.video_mask);
    m.loss = out.loss.item_double();
    out.loss.backward();
  } else {
    ChunkedStep step(model, in.ids, in.attention, in.video, in.video_mask, chunk);
    m.loss = step.loss_value();
    step.backward();
  }
  m.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  m.cpu_seconds = double(std::clock() - c0) / CLOCKS_PER_SEC;
  m.peak = tensor_memory(Device::cpu).peak - before;
  drop_gradients(model);
  return m;
}

// The optimizer's moments: in-use bytes added by the first step of the trainer's optimizer.
size_t moment_bytes(RetrievalModel& model) {
  std::vector<train::ParamGroup> groups;
  for (auto& g : train::param_groups(model, 1e-4, 1e-3, 0.2)) groups.push_back(g.group);
  train::BertAdamOptions options;
  options.t_total = 100;
  std::unique_ptr<train::Optimizer> opt = train::make_optimizer(model, std::move(groups), options);
  for (auto& [name, p] : model.named_parameters())
    if (p.requires_grad()) p.mutable_grad() = Tensor::zeros(p.shape(), p.dtype());
  const size_t before = tensor_memory(Device::cpu).in_use;
  opt->step();
  const size_t after = tensor_memory(Device::cpu).in_use;
  drop_gradients(model);
  return after - before;
}

double gib(double bytes) { return bytes / double(size_t(1) << 30); }
double mib(double bytes) { return bytes / double(size_t(1) << 20); }

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  try {
    const ClipConfig cc = clip_config(o.small);
    HeadConfig head;  // the official X-CLIP: seqTransf, 4 layers, 32 words, 12 frames
    const int64_t L = head.max_words, N = head.max_frames, R = cc.vision.resolution;
    std::printf("bench_chunked_memory: CPU, %d thread(s), CLIP %s, X-CLIP %lld words x %lld frames, chunk %lld\n",
                cpu::num_threads(), cc.str().c_str(), (long long)L, (long long)N, (long long)o.chunk);
    json result = {{"benchmark", "chunked_memory"}, {"device", "cpu"}, {"threads", cpu::num_threads()},
                   {"clip", cc.str()}, {"words", L}, {"frames", N}, {"chunk", o.chunk}, {"project", o.project},
                   {"memory", "tensor_memory(): tensor allocations, live and peak"}};
    json& per_precision = result["precisions"];
    std::printf("\n| precision | batch | one graph MiB | chunked MiB | predicted one graph MiB | one graph s (CPU s) | chunked s (CPU s) | CPU time ratio |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const std::string& p : split(o.precisions)) {
      const size_t base = tensor_memory(Device::cpu).in_use;
      auto model = from_scratch(cc, head, 42, precision_of(p));
      if (precision_of(p) == ClipPrecision::official_fp16) model->clip.round_official_fp16_parameters();
      train::freeze_clip_layers(*model, 0);
      const size_t weights = tensor_memory(Device::cpu).in_use - base;
      const size_t moments = moment_bytes(*model);
      const std::vector<std::string> batch_list = split(o.batches);
      const Inputs probe = make_inputs(2, L, N, R, cc.text.vocab_size);
      const size_t one = measure_tower_bytes(*model, probe.ids, probe.attention, probe.video, probe.video_mask, 1);
      const size_t two = measure_tower_bytes(*model, probe.ids, probe.attention, probe.video, probe.video_mask, 2);
      const size_t per_clip = two - one, fixed = one - per_clip;
      json rows = json::array();
      for (const std::string& b : batch_list) {
        const int64_t B = std::stoll(b);
        const Inputs in = make_inputs(B, L, N, R, cc.text.vocab_size);
        const Measured g = measure_step(*model, in, 0), c = measure_step(*model, in, o.chunk);
        const size_t head_b = measure_head_bytes(*model, in.attention, in.video_mask);
        const double predicted = double(fixed) + double(B) * double(per_clip) + double(head_b);
        std::printf("| %s | %lld | %.0f | %.0f | %.0f | %.2f (%.2f) | %.2f (%.2f) | %.2f |\n", p.c_str(), (long long)B,
                    mib(g.peak), mib(c.peak), mib(predicted), g.seconds, g.cpu_seconds, c.seconds, c.cpu_seconds,
                    c.cpu_seconds / g.cpu_seconds);
        std::fflush(stdout);
        rows.push_back({{"batch", B}, {"one_graph_peak_bytes", g.peak}, {"chunked_peak_bytes", c.peak},
                        {"predicted_one_graph_bytes", predicted}, {"head_bytes", head_b},
                        {"one_graph_seconds", g.seconds}, {"chunked_seconds", c.seconds},
                        {"one_graph_cpu_seconds", g.cpu_seconds}, {"chunked_cpu_seconds", c.cpu_seconds},
                        {"one_graph_loss", g.loss}, {"chunked_loss", c.loss}});
      }
      // The projected batch: the head measured at its size (zero features; no video needed).
      const Inputs big = make_inputs(o.project, L, N, R, cc.text.vocab_size, false);
      const size_t head_big = measure_head_bytes(*model, big.attention, big.video_mask);
      const double input = double(o.project) * double(N) * 3 * double(R) * double(R) * 4;  // f32 frames
      const double statics = double(weights) + double(moments) + input;
      const double one_graph = statics + double(fixed) + double(o.project) * double(per_clip) + double(head_big);
      const double chunked = statics + double(fixed) + double(o.chunk) * double(per_clip) + double(head_big);
      per_precision[p] = {{"weights_bytes", weights}, {"moment_bytes", moments}, {"tower_bytes_per_clip", per_clip},
                          {"tower_bytes_fixed", fixed}, {"steps", rows},
                          {"projected", {{"batch", o.project}, {"head_bytes", head_big}, {"input_bytes", input},
                                         {"one_graph_bytes", one_graph}, {"chunked_bytes", chunked}}}};
    }
    std::printf("\nProjected step of batch %lld (weights + moments + f32 input + towers + head):\n", (long long)o.project);
    std::printf("| precision | per clip MiB | head MiB | weights + moments MiB | input MiB | one graph GiB | chunk %lld GiB | fits 24 / 40 / 80 GB (one graph; chunked) |\n",
                (long long)o.chunk);
    std::printf("|---|---:|---:|---:|---:|---:|---:|---|\n");
    for (const auto& [p, r] : per_precision.items()) {
      const json& pr = r["projected"];
      const double one_graph = pr["one_graph_bytes"].get<double>(), chunked = pr["chunked_bytes"].get<double>();
      std::string fits;
      for (double gb : {24.0, 40.0, 80.0})
        fits += std::string(fits.empty() ? "" : " / ") + (one_graph <= gb * 1e9 ? "yes" : "no") + "; " +
                (chunked <= gb * 1e9 ? "yes" : "no");
      std::printf("| %s | %.1f | %.0f | %.0f | %.0f | %.1f | %.1f | %s |\n", p.c_str(),
                  mib(r["tower_bytes_per_clip"].get<double>()), mib(pr["head_bytes"].get<double>()),
                  mib(r["weights_bytes"].get<double>() + r["moment_bytes"].get<double>()),
                  mib(pr["input_bytes"].get<double>()), gib(one_graph), gib(chunked), fits.c_str());
    }
    // The recompute's cost in matmul FLOPs: one more forward of the towers.
    const bench::StepFlops f = bench::xclip_forward_flops(cc, o.project, o.project, L, N, head.cross_num_hidden_layers);
    const double towers = f.vision + f.vision_patch + f.text;
    const double one_graph_flops = 3 * (f.vision + f.text + f.temporal + f.heads) + f.vision_patch;  // patch frozen
    const double ratio = (one_graph_flops + towers) / one_graph_flops;
    std::printf("\nmatmul FLOPs of a batch-%lld step: one graph %.1f TFLOP, chunked %.1f TFLOP (x%.3f)\n",
                (long long)o.project, one_graph_flops / 1e12, (one_graph_flops + towers) / 1e12, ratio);
    result["flops"] = {{"one_graph", one_graph_flops}, {"chunked", one_graph_flops + towers}, {"ratio", ratio}};
    bench::write_result(o.json_path, result);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_chunked_memory: %s\n", e.what());
    return 1;
  }
  return 0;
}
