// Benchmark (not a test): the X-CLIP heads, forward + backward, ours against PyTorch.
//
// "Heads" = XClipHead (models/heads/xclip_head.hpp): everything of X-CLIP after the CLIP towers, from the CLIP
// features (sentence [B, D], words [B, L, D], frames [B, N, D], masks) to the loss: the seqTransf
// temporal encoder (frame_position_embeddings + 4 transformerClip blocks, D / 64 heads), the
// normalisations, the four contrasts with AOSM (eight learnable matrices) and the symmetric CrossEn;
// the backward reaches every head parameter and the three feature tensors (as in training, where
// it goes on into CLIP). The PyTorch side (tools/reference/bench_heads_torch.py) runs the heads of
// tools/reference/xclip_reference.py in f32 with the same thread count.
//
// Each figure is the median of every repetition over interleaved rounds (ours, then PyTorch).
// Memory: the process's peak RSS (VmHWM) and the growth of VmHWM above the RSS before the first
// step of a fresh process (bench_heads re-runs itself; PyTorch likewise), ours with the default
// frame-word chunk budget and with a small one that forces text chunks with recomputation.
//
//   bench_heads [--batch 64] [--words 32] [--frames 12] [--dim 512] [--layers 4] [--threads N]
//               [--rounds 3] [--reps 5] [--chunk-elements E] [--json OUT] [--no-torch]
//               [--torch-script PATH]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "xclip/autograd.hpp"
#include "xclip/kernels/cpu.hpp"
#include "xclip/models/heads/xclip_head.hpp"
#include "bench_args.hpp"
#include "bench_common.hpp"

namespace fs = std::filesystem;
using namespace xclip;
using namespace xclip::models;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

struct Options {
  int64_t batch = 64, words = 32, frames = 12, dim = 512;
  int layers = 4, threads = 0, rounds = 3, reps = 5;
  int64_t small_chunk = int64_t(1) << 18;  // the forced-chunking run: a few texts per chunk
  std::string json_path, torch_script;
  bool torch = true;
  int64_t memory_child = -1;  // >= 0: only measure one step's memory with this chunk budget (0 = default)
};

const char* kUsage =
    "usage: bench_heads [--batch B] [--words L] [--frames N] [--dim D] [--layers K] [--threads T] [--rounds R] "
    "[--reps K] [--chunk-elements E] [--json OUT] [--no-torch] [--torch-script PATH]\n";
[[noreturn]] void usage(const std::string& why) { bench::exit_with_usage("bench_heads", kUsage, why); }

Options parse(int argc, char** argv) {
  Options o;
  bench::Args(usage)  // grouped as the usage line; --memory-child is the memory probe's own
      .value("--batch", o.batch).value("--words", o.words).value("--frames", o.frames).value("--dim", o.dim)
      .value("--layers", o.layers).value("--threads", o.threads).value("--rounds", o.rounds).value("--reps", o.reps)
      .value("--chunk-elements", o.small_chunk).value("--json", o.json_path).flag("--no-torch", o.torch, false)
      .value("--torch-script", o.torch_script).value("--memory-child", o.memory_child)
      .parse(argc, argv);
  if (o.rounds < 1 || o.reps < 1) usage("--rounds and --reps must be positive");
  return o;
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// A field of /proc/self/status in MiB ("VmRSS", "VmHWM").
double status_mib(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::stod(line.substr(key.size() + 1)) / 1024.0;
  return NAN;
}

// The process's peak RSS over the whole run: VmHWM, kept across the resets below.
double g_process_peak_mib = 0;
double process_peak_mib() { return g_process_peak_mib = std::max(g_process_peak_mib, status_mib("VmHWM")); }

// Resets VmHWM to the current RSS (Linux: "5" > clear_refs), so the next peak is one step's.
bool reset_peak_rss() {
  process_peak_mib();
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return bool(f);
}

HeadConfig config_for(const Options& o, int64_t chunk_elements) {
  HeadConfig c;  // the official defaults: seqTransf, four contrasts, attention AOSM, learnable matrices
  c.max_words = o.words;
  c.max_frames = o.frames;
  c.cross_num_hidden_layers = o.layers;
  if (chunk_elements > 0) c.frame_word_chunk_elements = chunk_elements;
  return c;
}

// CLIP features of a batch: captions of varied length, videos with some padded frames.
struct Batch {
  Tensor sentence, words, word_mask, frames, video_mask;
};

Batch make_batch(const Options& o) {
  Generator g(3);
  Batch b;
  b.sentence = Tensor::randn(Shape{o.batch, o.dim}, g).set_requires_grad(true);
  b.words = Tensor::randn(Shape{o.batch, o.words, o.dim}, g).set_requires_grad(true);
  b.frames = Tensor::randn(Shape{o.batch, o.frames, o.dim}, g).set_requires_grad(true);
  std::vector<int64_t> wm(size_t(o.batch * o.words), 0), vm(size_t(o.batch * o.frames), 0);
  for (int64_t i = 0; i < o.batch; ++i) {
    const int64_t nw = 3 + (i * 7) % (o.words - 2), nf = o.frames - (i % 4);
    for (int64_t j = 0; j < nw; ++j) wm[size_t(i * o.words + j)] = 1;
    for (int64_t j = 0; j < std::max<int64_t>(1, nf); ++j) vm[size_t(i * o.frames + j)] = 1;
  }
  b.word_mask = Tensor::from_vector<int64_t>(wm, Shape{o.batch, o.words});
  b.video_mask = Tensor::from_vector<int64_t>(vm, Shape{o.batch, o.frames});
  return b;
}

struct StepTimes {
  std::vector<double> forward, backward, total;
};

// The X-CLIP head (its parameters at the original's initialisation) and CLIP's logit_scale
// (ln 100, as OpenAI's checkpoints hold it), which the head's gradient reaches.
struct Heads {
  XClipHead head;
  Tensor logit_scale = Tensor::full(Shape{}, std::log(100.0)).set_requires_grad(true);
  Heads(const HeadConfig& config, int64_t dim) : head(config, HeadDims{dim, 77}) { head.reset_parameters(42); }
  void zero_grad() {
    head.zero_grad();
    logit_scale.zero_grad();
  }
};

void step(const Heads& heads, Batch& b, StepTimes* t) {
  const auto t0 = Clock::now();
  HeadOutput out = heads.head.forward({b.sentence, b.words, b.word_mask}, {b.frames, b.video_mask}, heads.logit_scale);
  Tensor loss = symmetric_cross_entropy(out.logits);
  const double fwd = ms_since(t0);
  const auto t1 = Clock::now();
  loss.backward();
  const double bwd = ms_since(t1);
  if (t) t->forward.push_back(fwd), t->backward.push_back(bwd), t->total.push_back(fwd + bwd);
}

void clear_grads(Heads& heads, Batch& b) {
  heads.zero_grad();
  b.sentence.zero_grad(), b.words.zero_grad(), b.frames.zero_grad();
}

void time_steps(Heads& heads, Batch& b, int reps, StepTimes& t) {
  for (int r = 0; r < reps; ++r) {
    clear_grads(heads, b);
    step(heads, b, &t);
  }
}

// Memory of one training step, measured in a fresh process (bench_heads --memory-child BUDGET):
// a process that already ran steps keeps freed memory in malloc's heap, which would hide the
// next step's peak. rss_before: after building the heads and the batch; peak: VmHWM after the step.
struct Memory {
  double rss_before_mib = NAN, peak_mib = NAN;
  double step_mib() const { return peak_mib - rss_before_mib; }
};

int memory_child(const Options& o, int64_t budget) {
  Heads heads(config_for(o, budget), o.dim);
  Batch b = make_batch(o);
  const double before = status_mib("VmRSS");
  reset_peak_rss();  // forget the initialisation's temporaries
  step(heads, b, nullptr);
  std::printf("{\"rss_before_mib\": %.3f, \"peak_mib\": %.3f}\n", before, status_mib("VmHWM"));
  return 0;
}

std::string self_command(const Options& o) {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return bench::shell_quote(ec ? std::string("bench_heads") : exe.string()) + " --batch " + std::to_string(o.batch) +
         " --words " + std::to_string(o.words) + " --frames " + std::to_string(o.frames) + " --dim " +
         std::to_string(o.dim) + " --layers " + std::to_string(o.layers) + " --threads " +
         std::to_string(cpu::num_threads());
}

std::string read_command(const std::string& cmd, int* status) {
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return *status = -1, std::string();
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  *status = pclose(pipe);
  return out;
}

Memory measure_memory(const Options& o, int64_t budget) {
  int status = 0;
  const json j = json::parse(read_command(self_command(o) + " --memory-child " + std::to_string(budget), &status),
                             nullptr, false);
  Memory m;
  if (status == 0 && j.is_object()) m.rss_before_mib = j.value("rss_before_mib", NAN), m.peak_mib = j.value("peak_mib", NAN);
  return m;
}

std::optional<fs::path> find_script(const Options& o) {
  if (!o.torch_script.empty()) return fs::path(o.torch_script);
  const fs::path rel = "tools/reference/bench_heads_torch.py";
  if (fs::exists(rel)) return rel;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path())
      if (fs::exists(dir / rel)) return dir / rel;
  return std::nullopt;
}

std::optional<json> run_torch(const Options& o, int threads, std::string& why) {
  const auto script = find_script(o);
  if (!script) return why = "tools/reference/bench_heads_torch.py not found (use --torch-script)", std::nullopt;
  const std::string cmd = "/usr/bin/python3 " + bench::shell_quote(script->string()) + " --threads " +
                          std::to_string(threads) + " --reps " + std::to_string(o.reps) + " --batch " +
                          std::to_string(o.batch) + " --words " + std::to_string(o.words) + " --frames " +
                          std::to_string(o.frames) + " --dim " + std::to_string(o.dim) + " --layers " +
                          std::to_string(o.layers);
  int status = 0;
  const std::string out = read_command(cmd, &status);
  json j = json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (status != 0 || !j.is_object() || !j.contains("total_ms"))
    return why = "the PyTorch script failed (exit status " + std::to_string(status) + ")", std::nullopt;
  return j;
}

void append(std::vector<double>& into, const json& values) {
  for (double v : values) into.push_back(v);
}

void print_row(const char* what, const StepTimes& t) {
  std::printf("%-40s forward %8.1f ms  backward %8.1f ms  total %8.1f ms\n", what, bench::median(t.forward),
              bench::median(t.backward), bench::median(t.total));
}

json times_json(const StepTimes& t) {
  return {{"forward_ms", bench::median(t.forward)}, {"backward_ms", bench::median(t.backward)}, {"total_ms", bench::median(t.total)},
          {"total_ms_all", t.total}};
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.threads > 0) cpu::set_num_threads(o.threads);
  if (o.memory_child >= 0) return memory_child(o, o.memory_child);
  const int threads = cpu::num_threads();
  const int64_t fw_elements = o.batch * o.words * o.batch * o.frames;
  std::printf("bench_heads: B %lld, L %lld, N %lld, D %lld, seqTransf %d layers x %lld heads, f32, %d threads; "
              "%d rounds x %d reps; load average %s\n",
              (long long)o.batch, (long long)o.words, (long long)o.frames, (long long)o.dim, o.layers,
              (long long)(o.dim / 64), threads, o.rounds, o.reps, load_average().c_str());
  const HeadConfig cfg = config_for(o, 0);
  std::printf("frame-word tensor [B_t, L, B_v, N] = %lld elements = %.1f MiB f32; chunk budget %lld elements: %s\n",
              (long long)fw_elements, double(fw_elements) * 4 / 1048576.0, (long long)cfg.frame_word_chunk_elements,
              fw_elements > cfg.frame_word_chunk_elements ? "chunked with recomputation" : "one block (plain graph)");

  Heads heads(cfg, o.dim);
  Batch b = make_batch(o);
  const Memory mem = measure_memory(o, 0), chunked_mem = measure_memory(o, o.small_chunk);
  for (int w = 0; w < 2; ++w) step(heads, b, nullptr);  // warm-up (allocator, OpenMP pool)

  StepTimes ours, torch;
  json torch_info;
  bool have_torch = o.torch;
  for (int round = 0; round < o.rounds; ++round) {
    time_steps(heads, b, o.reps, ours);
    if (!have_torch) continue;
    std::string why;
    auto j = run_torch(o, threads, why);
    if (!j) {
      std::printf("PyTorch not measured: %s\n", why.c_str());
      have_torch = false;
      continue;
    }
    append(torch.forward, (*j)["forward_ms"]), append(torch.backward, (*j)["backward_ms"]);
    append(torch.total, (*j)["total_ms"]);
    torch_info = *j;
    std::printf("round %d done (load average %s)\n", round + 1, load_average().c_str());
  }

  // The same step with a small chunk budget: the frame-word term in text chunks, recomputed.
  Heads chunked(config_for(o, o.small_chunk), o.dim);
  step(chunked, b, nullptr);
  StepTimes chunked_times;
  time_steps(chunked, b, o.reps, chunked_times);

  std::printf("\n");
  print_row("ours", ours);
  if (have_torch) {
    print_row("PyTorch (xclip_reference.py heads)", torch);
    std::printf("%-40s forward %8.2fx    backward %8.2fx    total %8.2fx   (ours / PyTorch time)\n", "ratio",
                bench::median(ours.forward) / bench::median(torch.forward), bench::median(ours.backward) / bench::median(torch.backward),
                bench::median(ours.total) / bench::median(torch.total));
  }
  char label[96];
  std::snprintf(label, sizeof label, "ours, chunk budget %lld elements", (long long)o.small_chunk);
  print_row(label, chunked_times);
  std::printf("\nmemory of the first step in a fresh process, VmHWM - RSS before it (MiB): ours %.1f "
              "(RSS before %.1f), with chunk budget %lld: %.1f",
              mem.step_mib(), mem.rss_before_mib, (long long)o.small_chunk, chunked_mem.step_mib());
  if (have_torch)
    std::printf(", PyTorch %.1f (RSS before %.1f)", torch_info.value("step_peak_mib", NAN),
                torch_info.value("rss_before_mib", NAN));
  std::printf("\nprocess peak RSS (MiB): ours %.1f", process_peak_mib());
  if (have_torch) std::printf(", PyTorch %.1f", torch_info.value("process_peak_mib", NAN));
  std::printf("\nload average at the end: %s\n", load_average().c_str());

  if (!o.json_path.empty()) {
    json j = {{"bench", "bench_heads"}, {"batch", o.batch}, {"words", o.words}, {"frames", o.frames},
              {"dim", o.dim}, {"layers", o.layers}, {"threads", threads}, {"frame_word_elements", fw_elements},
              {"chunk_budget", cfg.frame_word_chunk_elements}, {"ours", times_json(ours)},
              {"ours_step_mib", mem.step_mib()}, {"ours_rss_before_mib", mem.rss_before_mib}, {"ours_chunked", times_json(chunked_times)},
              {"ours_chunked_budget", o.small_chunk}, {"ours_chunked_step_mib", chunked_mem.step_mib()},
              {"ours_process_peak_mib", process_peak_mib()}, {"load_average_end", load_average()}};
    if (have_torch) {
      j["torch"] = times_json(torch);
      j["torch_info"] = torch_info;
      j["ratio_total_ours_over_torch"] = bench::median(ours.total) / bench::median(torch.total);
    }
    std::ofstream(o.json_path) << j.dump(2) << "\n";
  }
  return 0;
}
