// Benchmark (not a test): search latency, one query against an index of --videos videos with
// ViT-B/32 sizes (D 512, 12 frames, 32 words), synthetic video sides (random unit vectors: the
// arithmetic does not depend on the values). Timed separately, each the median of --reps runs:
//   query encoding  tokenize + CLIP text tower (ViT-B/32's: width 512, 12 layers) for one query
//   full X-CLIP     search::score (the four contrasts with AOSM, the eight matrices) + top-10 ranking
//   video-sentence  the video-sentence term alone, λ · (t · global_mat_weight) · vᵀ, + top-10 ranking
//   shortlist 500   search --shortlist 500: video-sentence on all, the full similarity on the best 500
//   per block size  the full similarity for several --block values (videos scored together)
//   per contrast    each of the four terms alone, on all videos at once
//
//   bench_search [--videos 10000] [--frames 12] [--words 32] [--reps 7] [--json OUT] [--bpe PATH]
#include <omp.h>

#include <time.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_args.hpp"
#include "bench_common.hpp"
#include "xclip/autograd.hpp"
#include "xclip/models/build.hpp"
#include "xclip/models/heads/xclip_head.hpp"
#include "xclip/ops.hpp"
#include "xclip/search/score.hpp"
#include "xclip/text/tokenizer.hpp"

using namespace xclip;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  int64_t videos = 10000, frames = 12, words = 32;
  int reps = 7;
  std::string json_path, bpe;
};

const char* kUsage = "usage: bench_search [--videos V] [--frames N] [--words L] [--reps K] [--json OUT] [--bpe PATH]\n";
[[noreturn]] void usage(const std::string& why) { bench::exit_with_usage("bench_search", kUsage, why); }

double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
}

// The median wall time of `reps` runs after a warm-up. `cpu_ms`, when given, receives the median
// CPU time of the process over the same runs (all threads): on a machine shared with other work,
// CPU time / threads is what the wall time would be with the cores to itself.
template <class F>
double median_ms(int reps, F&& f, double* cpu_ms = nullptr) {
  std::vector<double> t, cpu;
  f();  // warm-up (first touch of the buffers, OpenMP threads)
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    const double c0 = process_cpu_ms();
    f();
    cpu.push_back(process_cpu_ms() - c0);
    t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  if (cpu_ms) *cpu_ms = bench::median(cpu);
  return bench::median(t);
}

search::VideoSides random_sides(int64_t V, int64_t N, int64_t D) {
  Generator gen(1);
  return {ops::l2_normalize(Tensor::randn(Shape{V, D}, gen), -1), ops::l2_normalize(Tensor::randn(Shape{V, N, D}, gen), -1),
          Tensor::ones(Shape{V, N}, DType::i64)};
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bench::Args(usage)
      .value("--videos", o.videos)
      .value("--frames", o.frames)
      .value("--words", o.words)
      .value("--reps", o.reps)
      .value("--json", o.json_path)
      .value("--bpe", o.bpe)
      .parse(argc, argv);
  NoGradGuard no_grad;
  // ViT-B/32 (the text tower is what a query runs; the vision tower is built but not used here).
  models::HeadConfig head;  // the official X-CLIP: four contrasts, AOSM, eight matrices
  head.max_frames = o.frames, head.max_words = o.words;
  auto model = models::from_scratch(models::ClipConfig::vit_b32(), head, 42);
  const text::ClipTokenizer tok =
      text::ClipTokenizer::from_bpe_file(o.bpe.empty() ? text::find_default_bpe_file() : std::filesystem::path(o.bpe));
  const search::VideoSides sides = random_sides(o.videos, o.frames, 512);
  const std::string query = "a man in a red shirt is playing the guitar on a stage";

  models::TextFeatures texts;
  const double encode_ms = median_ms(o.reps, [&] {
    const text::ModelText t = tok.encode_for_model(query, o.words);
    texts = model->encode_text(Tensor::from_vector<int64_t>(t.input_ids, Shape{1, o.words}),
                               Tensor::from_vector<int64_t>(t.input_mask, Shape{1, o.words}));
  });
  auto full = [&](int64_t block) {
    const search::Scores sc = search::score(*model, texts, sides, block);
    return search::ranking(sc.logits.data<float>(), o.videos, 10);
  };
  const auto* xh = dynamic_cast<const models::XClipHead*>(&model->head);
  const Tensor lambda = models::logit_scale_factor(model->logit_scale());
  const double vs_ms = median_ms(o.reps, [&] {
    const Tensor l = models::video_sentence_logits(lambda, models::normalized_sentence(texts.sentence), sides.video,
                                                   xh->aosm().global_mat_weight);
    search::ranking(l.data<float>(), o.videos, 10);
  });
  // The approximate mode: the full similarity on the 500 best videos by the video-sentence term.
  const double shortlist_ms = median_ms(o.reps, [&] {
    const search::Scores sc = search::score_shortlist(*model, texts, sides, 500);
    search::ranking(sc.logits.data<float>(), o.videos, 10);
  });
  // Each contrast alone on every video at once (the share of each in the full similarity).
  nlohmann::json terms = nlohmann::json::object(), terms_cpu = nlohmann::json::object();
  const models::TextSide text_side = models::make_text_side(texts);
  const models::VideoSide video_side{sides.video, sides.frames, sides.mask};
  for (const char* name : {"video_sentence", "video_word", "sentence_frame", "frame_word"}) {
    models::HeadConfig c = model->config();
    const std::string n = name;
    c.contrasts = {n == "video_sentence", n == "video_word", n == "sentence_frame", n == "frame_word"};
    double cpu = 0;
    terms[name] = median_ms(
        o.reps, [&] { models::similarity_terms(c, xh->aosm(), model->logit_scale(), text_side, video_side); }, &cpu);
    terms_cpu[name] = cpu;
  }
  nlohmann::json blocks = nlohmann::json::object(), blocks_cpu = nlohmann::json::object();
  double best_ms = 1e300;
  int64_t best_block = 0;
  for (int64_t block : {int64_t(256), int64_t(1024), int64_t(4096), search::kDefaultBlock}) {
    double cpu = 0;
    const double ms = median_ms(o.reps, [&] { full(block); }, &cpu);
    blocks[std::to_string(block)] = ms;
    blocks_cpu[std::to_string(block)] = cpu;
    if (ms < best_ms) best_ms = ms, best_block = block;
  }
  const double default_ms = blocks.at(std::to_string(search::kDefaultBlock)).get<double>();
  const double default_cpu_ms = blocks_cpu.at(std::to_string(search::kDefaultBlock)).get<double>();
  std::printf("search latency, one query against %lld videos (ViT-B/32 sizes: D 512, N %lld, L %lld), %d threads, %s\n",
              (long long)o.videos, (long long)o.frames, (long long)o.words, omp_get_max_threads(),
              bench::cpu_name().c_str());
  std::printf("  %-44s %9.1f ms\n", "query encoding (tokenizer + text tower)", encode_ms);
  std::printf("  %-44s %9.1f ms  (CPU time %.1f ms over all threads)\n", "full X-CLIP similarity + top 10 (default block)",
              default_ms, default_cpu_ms);
  std::printf("  %-44s %9.1f ms\n", "video-sentence term alone + top 10", vs_ms);
  std::printf("  %-44s %9.1f ms\n", "--shortlist 500 (approximate) + top 10", shortlist_ms);
  for (const auto& [b, ms] : blocks.items()) std::printf("    block %-6s %9.1f ms\n", b.c_str(), ms.get<double>());
  for (const auto& [t, ms] : terms.items())
    std::printf("    %-16s alone %9.1f ms  (CPU %.1f ms)\n", t.c_str(), ms.get<double>(), terms_cpu.at(t).get<double>());
  const nlohmann::json result = {{"benchmark", "bench_search"},
                                 {"videos", o.videos},
                                 {"frames", o.frames},
                                 {"words", o.words},
                                 {"threads", omp_get_max_threads()},
                                 {"cpu", bench::cpu_name()},
                                 {"reps", o.reps},
                                 {"query_encode_ms", encode_ms},
                                 {"full_xclip_ms", default_ms},
                                 {"full_xclip_cpu_ms", default_cpu_ms},
                                 {"video_sentence_ms", vs_ms},
                                 {"shortlist_500_ms", shortlist_ms},
                                 {"full_xclip_ms_by_block", blocks},
                                 {"term_alone_ms", terms},
                                 {"term_alone_cpu_ms", terms_cpu},
                                 {"full_xclip_cpu_ms_by_block", blocks_cpu},
                                 {"best_block", best_block},
                                 {"best_ms", best_ms}};
  bench::write_result(o.json_path, result);
  return 0;
}
